"""What each dataset gives the second paper's evaluations (selrob.evaluations.stimuli): one object
per dataset, looked up by name, with its probe set, cue-conflict set and decision rule, and the
checks for its external data; the cache keys that name the images stay what they were, so that
cached dissections and ablations stay valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from selrob.data import shape_texture
from selrob.errors import SelrobError
from selrob.evaluations import EvaluationContext, EvaluationSettings
from selrob.evaluations.channel_ablation import images_key
from selrob.evaluations.stimuli import every_stimuli, stimuli_for
from selrob.evaluations.stimuli.world import PER_PAIR, WORLD
from support.fakes import FakeSource


def test_the_second_papers_datasets_have_stimuli_and_others_get_one_line() -> None:
    assert sorted(every_stimuli()) == ["imagenet", "shapes"]
    with pytest.raises(SelrobError) as error:
        stimuli_for("cifar10", "Network Dissection")
    assert str(error.value) == ("no probe set or cue-conflict images for cifar10 models (needed by Network Dissection); "
                                "the second paper's stimuli exist for shapes and imagenet models")


def test_the_worlds_cue_conflict_images_and_controls_pair_up(tmp_path: Path) -> None:
    images = WORLD.cue_conflict.images(tmp_path, "resize-crop", False)
    assert len(images.data) == 10 * 9 * PER_PAIR and bool(images.conflict.all())
    assert torch.equal(images.decide(torch.eye(10)[[3, 7]]), torch.tensor([3, 7]))  # the top-1 class
    assert WORLD.cue_conflict.controls is not None
    controls = WORLD.cue_conflict.controls()
    assert torch.equal(controls.labels, images.data.labels)  # each image's control shows its shape
    numbers, pictures, captions, titles = WORLD.cue_conflict.gallery(tmp_path, 3)
    assert list(numbers) == list(shape_texture.SHAPES) and titles == ["texture 1", "texture 2", "texture 3"]
    for shape, chosen in enumerate(numbers.values()):
        assert (images.data.labels[chosen] == shape).all() and (images.textures[chosen] != shape).all()
    assert next(iter(pictures.values())).shape == (3, 32, 32, 3) and len(next(iter(captions.values()))) == 3


def test_the_image_keys_of_the_cached_evaluations_are_unchanged(tmp_path: Path) -> None:
    # These keys name the images inside the dissection and ablation caches of every trained model.
    source = FakeSource(tmp_path, torch.nn.Identity())
    context = EvaluationContext("shapes", EvaluationSettings())
    assert images_key(source, context) == {"world": "shape-texture", "seed": shape_texture.WORLD_SEED, "per_pair": 10}
    assert WORLD.probe.describe(tmp_path) == "shape-texture world, 500 images"


def test_imagenet_names_what_is_missing_and_refuses_an_unknown_need(tmp_path: Path) -> None:
    imagenet = stimuli_for("imagenet")
    reasons = imagenet.missing(tmp_path, ("cue-conflict", "broden"))
    assert len(reasons) == 2 and "selrob data download cue-conflict" in reasons[0] and "broden" in reasons[1]
    with pytest.raises(SelrobError, match="imagenet needs no brodn; its external sets are cue-conflict"):
        imagenet.missing(tmp_path, ("brodn",))
    assert imagenet.sixteen_class_types == {"silhouette"} and imagenet.table3_evaluations == ("stylized-sixteen",)
