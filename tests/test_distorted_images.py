"""The embedded world's distorted test sets (the second paper's Table 3d-g)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from selrob.data import load_test_set, shape_texture
from selrob.distortions import image_types
from selrob.distortions.image_types import IMAGE_TYPES, distorted_set
from selrob.distortions.scramble import scramble_patches
from selrob.errors import SelrobError


@pytest.fixture(scope="module")
def world_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("data")
    return root, {t: distorted_set("shapes", t, root).images.numpy() for t in IMAGE_TYPES}


def test_silhouettes_equal_the_stored_masks(world_sets: tuple[Path, dict[str, np.ndarray]]) -> None:
    _, sets = world_sets
    masks = shape_texture.build(shape_texture.load_test_specs()).masks
    silhouettes = sets["silhouette"]
    assert silhouettes.shape == (len(masks), 3, 32, 32) and silhouettes.dtype == np.uint8
    assert ((silhouettes == 0) == masks[:, None]).all() and ((silhouettes == 255) == ~masks[:, None]).all()


def test_stylized_images_keep_the_shape_and_take_a_held_out_texture(world_sets: tuple[Path, dict[str, np.ndarray]]) -> None:
    _, sets = world_sets
    specs = shape_texture.load_test_specs()
    stylized = shape_texture.stylized_specs(specs)
    held_out = {shape_texture.TEXTURES.index(t) for t in shape_texture.HELD_OUT_TEXTURES}
    assert {s.texture for s in stylized} == held_out  # both held-out textures are used
    assert all(a.shape == b.shape and a.rotation == b.rotation and a.shape_colour == b.shape_colour
               for a, b in zip(specs, stylized))
    rebuilt = shape_texture.build(stylized)
    assert (rebuilt.masks == shape_texture.build(specs).masks).all()
    assert (sets["stylized"] == rebuilt.images).all()


def test_scrambled_and_contour_sets_come_from_the_test_images(world_sets: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, sets = world_sets
    clean = load_test_set("shapes").images.numpy().transpose(0, 2, 3, 1)
    for grid in (2, 4, 8):
        expected = scramble_patches(clean, grid, image_types.SEED).transpose(0, 3, 1, 2)
        assert (sets[f"scrambled-{grid}"] == expected).all()
    contour = sets["contour"]
    assert contour.shape == (len(clean), 3, 32, 32) and (contour[:, 0] == contour[:, 2]).all()  # grey
    assert (contour.reshape(len(clean), -1).min(axis=1) < 200).mean() > 0.9  # nearly every image has lines
    labels = distorted_set("shapes", "contour", root).labels
    assert (labels == load_test_set("shapes").labels).all()


def test_sets_are_cached_with_a_manifest_and_other_settings_are_refused(world_sets: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, _ = world_sets
    folder = image_types.distorted_dir("shapes", root)
    assert sorted(p.stem for p in folder.glob("*.npy")) == sorted(IMAGE_TYPES)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == image_types.VERSION
    (folder / "manifest.json").write_text(json.dumps({**manifest, "seed": 7}))
    try:
        with pytest.raises(SelrobError, match="other settings"):
            distorted_set("shapes", "stylized", root)
    finally:
        (folder / "manifest.json").write_text(json.dumps(manifest))


def test_bad_image_type_and_dataset() -> None:
    with pytest.raises(SelrobError, match="'blurred'; choose one of: scrambled-2"):
        distorted_set("shapes", "blurred")
    with pytest.raises(SelrobError, match="not 'digits'"):
        distorted_set("digits", "stylized")
