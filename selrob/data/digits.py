"""scikit-learn's handwritten digits: the embedded dataset that runs everywhere.

1,797 grayscale 8x8 images of 10 digits, shipped inside scikit-learn (no download). Choices:

* **Resolution and channels: native 8x8, one channel.** ResNet20 then trains at ~1,900 images/s
  on 2 CPU cores, so the default sweep fits the main job's time budget; upsampling to 16x16 costs
  ~2.6x and to 32x32 ~9x per step. ResNet20's strides still leave 8 -> 4 -> 2 pixels per stage.
* **Pixel values**: 0..16 counts scaled to uint8 by ``round(v * 255 / 16)``, like every other
  dataset here (corruptions and attacks work on [0, 1] images).
* **Test split**: a fixed stratified 20% (360 images, ``random_state=0``), the same for every seed;
  the validation set is drawn per seed from the remaining 1,437 (see :mod:`selrob.data.splits`).
* **Augmentation**: 1-pixel pad-and-crop, no horizontal flip (it changes what a digit is).
"""

from __future__ import annotations

import numpy as np
import torch

from selrob.data.base import DatasetInfo, ImageSet

TEST_FRACTION = 0.2
SPLIT_SEED = 0

INFO = DatasetInfo(
    name="digits",
    num_classes=10,
    in_channels=1,
    image_size=8,
    # Statistics of the 1,437 training-pool images in [0, 1]; tests recompute them.
    mean=(0.3054,),
    std=(0.3760,),
    hflip=False,
    crop_padding=1,
)


def load_pool_and_test() -> tuple[ImageSet, ImageSet]:
    """The training pool (train + validation) and the fixed test set."""
    # Imported here: scikit-learn takes seconds to import and only this loader needs it.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    pool, test = train_test_split(
        np.arange(len(labels)), test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    pool, test = np.sort(pool), np.sort(test)

    def as_set(index: np.ndarray) -> ImageSet:
        return ImageSet(torch.from_numpy(images[index]), torch.from_numpy(labels[index]))

    return as_set(pool), as_set(test)
