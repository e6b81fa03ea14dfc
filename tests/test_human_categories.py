"""The 1000-class -> 16-category mapping of Geirhos et al. (2019): the reference's index lists and
the mean-probability decision on hand-built probability vectors."""

from __future__ import annotations

import pytest
import torch

from selrob.data.cue_conflict_stimuli import CATEGORIES
from selrob.measures.human_categories import (
    IMAGENET_INDICES,
    category_probabilities,
    decisions_from_logits,
    human_category_decisions,
)

#: Classes per category in texture-vs-shape's ``human_categories.py``.
SIZES = {"airplane": 1, "bear": 4, "bicycle": 2, "bird": 49, "boat": 5, "bottle": 7, "car": 3, "cat": 6, "chair": 4,
         "clock": 3, "dog": 109, "elephant": 2, "keyboard": 2, "knife": 1, "oven": 1, "truck": 8}


def test_the_lists_are_the_reference_s_207_disjoint_imagenet_indices() -> None:
    assert tuple(IMAGENET_INDICES) == CATEGORIES
    assert {category: len(indices) for category, indices in IMAGENET_INDICES.items()} == SIZES
    every = [index for indices in IMAGENET_INDICES.values() for index in indices]
    assert len(every) == len(set(every)) == 207 and 0 <= min(every) and max(every) < 1000
    bird, dog = set(IMAGENET_INDICES["bird"]), set(IMAGENET_INDICES["dog"])
    assert {8, 10, 16, 18, 24, 80, 100, 127, 133, 135, 145} <= bird and not {9, 17, 21, 97, 134} & bird
    assert {152, 191, 193, 268} <= dog and not {192, 204, 227, 242, 251, 258, 260, 264} & dog
    assert IMAGENET_INDICES["cat"] == (281, 282, 283, 284, 285, 286) and IMAGENET_INDICES["truck"][-1] == 867


def one_hot_mixture(weights: dict[int, float]) -> torch.Tensor:
    """A (1, 1000) probability vector with ``weights`` at their classes, the rest spread evenly."""
    probabilities = torch.full((1, 1000), (1.0 - sum(weights.values())) / (1000 - len(weights)))
    for index, weight in weights.items():
        probabilities[0, index] = weight
    return probabilities


def test_the_decision_is_the_category_with_the_highest_mean_probability() -> None:
    knife, airplane = CATEGORIES.index("knife"), CATEGORIES.index("airplane")
    # The top class (a dog, 200) is in the biggest category, but knife's mean (one class) is higher.
    top_class_is_a_dog = one_hot_mixture({200: 0.30, 499: 0.25})
    assert top_class_is_a_dog.argmax() == 200 and human_category_decisions(top_class_is_a_dog).tolist() == [knife]
    # Summed, dog would win (109 x 0.005 = 0.545); averaged, airplane does.
    many_dog_classes = one_hot_mixture({**{index: 0.005 for index in IMAGENET_INDICES["dog"]}, 404: 0.1})
    assert human_category_decisions(many_dog_classes).tolist() == [airplane]
    means = category_probabilities(many_dog_classes)[0]
    assert means[CATEGORIES.index("dog")] == pytest.approx(0.005) and means[airplane] == pytest.approx(0.1)
    uniform = torch.full((2, 1000), 1e-3)
    assert torch.allclose(category_probabilities(uniform), torch.full((2, 16), 1e-3))


def test_logits_go_through_the_softmax_first() -> None:
    logits = torch.randn(5, 1000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(decisions_from_logits(logits), human_category_decisions(logits.softmax(dim=1)))
    with pytest.raises(ValueError, match=r"expected \(N, 1000\) probabilities"):
        human_category_decisions(torch.rand(3, 10))
