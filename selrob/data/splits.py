"""Per-seed validation split drawn from the training pool (paper appendix A.1.2).

The paper takes 50 images per class of Tiny ImageNet's training set, redrawn for every seed, and
5k of CIFAR-10's 50k. Here every dataset draws ``val_per_class`` images of each class (CIFAR-10:
500, i.e. 5k), stratified so that every class is validated equally.
"""

from __future__ import annotations

import numpy as np
import torch

from selrob.errors import SelrobError


def validation_split(labels: torch.Tensor, val_per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train_index, val_index)``, both sorted, with ``val_per_class`` validation images per class."""
    rng = np.random.default_rng(seed)
    label_array = labels.numpy()
    val = []
    for label in np.unique(label_array):
        members = np.flatnonzero(label_array == label)
        if len(members) <= val_per_class:
            raise SelrobError(
                f"class {label} has {len(members)} training images, too few for {val_per_class} validation images"
            )
        val.append(rng.choice(members, size=val_per_class, replace=False))
    val_index = np.sort(np.concatenate(val))
    train_index = np.setdiff1d(np.arange(len(label_array)), val_index)
    return torch.from_numpy(train_index), torch.from_numpy(val_index)
