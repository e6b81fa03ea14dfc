"""From 1000 ImageNet classes to Geirhos et al. (2019)'s 16 categories of the cue-conflict stimuli.

The lists are those of ``texture-vs-shape: code/helper/human_categories.py`` (identical in
``model-vs-human: modelvshuman/helper/human_categories.py``): 0-based ImageNet class indices in
sorted-wnid order, 207 in all, none in two categories. A model's decision among the 16 is the
category with the highest MEAN softmax probability over its classes (not the sum, and not the
category of the top-1 class): a large category such as dog (109 classes) gains nothing from its
size.
"""

from __future__ import annotations

import torch

from selrob.data.cue_conflict_stimuli import CATEGORIES


def _spans(*spans: tuple[int, int]) -> tuple[int, ...]:
    """The indices of inclusive ``(first, last)`` spans, as the reference writes bird and dog."""
    return tuple(index for first, last in spans for index in range(first, last + 1))


#: ImageNet class indices of each category, keyed in :data:`CATEGORIES` order.
IMAGENET_INDICES: dict[str, tuple[int, ...]] = {
    "airplane": (404,),
    "bear": (294, 295, 296, 297),
    "bicycle": (444, 671),
    "bird": _spans((8, 8), (10, 16), (18, 20), (22, 24), (80, 83), (87, 96), (98, 100), (127, 133), (135, 145)),
    "boat": (472, 554, 625, 814, 914),
    "bottle": (440, 720, 737, 898, 899, 901, 907),
    "car": (436, 511, 817),
    "cat": _spans((281, 286)),
    "chair": (423, 559, 765, 857),
    "clock": (409, 530, 892),
    "dog": tuple(index for index in _spans((152, 268)) if index not in (192, 204, 227, 242, 251, 258, 260, 264)),
    "elephant": (385, 386),
    "keyboard": (508, 878),
    "knife": (499,),
    "oven": (766,),
    "truck": (555, 569, 656, 675, 717, 734, 864, 867),
}

NUM_IMAGENET_CLASSES = 1000


def averaging_matrix() -> torch.Tensor:
    """(1000, 16) float: column c is 1 / |c| at category c's classes, so ``p @ M`` is each
    category's mean probability."""
    matrix = torch.zeros(NUM_IMAGENET_CLASSES, len(CATEGORIES))
    for column, indices in enumerate(IMAGENET_INDICES.values()):
        matrix[list(indices), column] = 1.0 / len(indices)
    return matrix


def category_probabilities(probabilities: torch.Tensor) -> torch.Tensor:
    """(N, 16): per category, the mean of the (N, 1000) ``probabilities`` at its classes."""
    if probabilities.dim() != 2 or probabilities.shape[1] != NUM_IMAGENET_CLASSES:
        raise ValueError(f"expected (N, {NUM_IMAGENET_CLASSES}) probabilities, got {tuple(probabilities.shape)}")
    return probabilities.float() @ averaging_matrix().to(probabilities.device)


def human_category_decisions(probabilities: torch.Tensor) -> torch.Tensor:
    """(N,) int64 category indices (into :data:`CATEGORIES`) from (N, 1000) softmax
    ``probabilities``: the arg-max of :func:`category_probabilities`."""
    return category_probabilities(probabilities).argmax(dim=1)


def decisions_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """:func:`human_category_decisions` of ``softmax(logits)``: what a 1000-class model decides."""
    return human_category_decisions(logits.float().softmax(dim=1))
