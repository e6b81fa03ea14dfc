"""AugMix: each operation against PIL (what the reference applies), the mixing, the JSD term by
hand, and the training option."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from selrob.config import resolve_config
from selrob.errors import SelrobError
from selrob.training import augmix


def _batch(n: int = 3, size: int = 16, seed: int = 0) -> tuple[np.ndarray, torch.Tensor]:
    images = np.random.default_rng(seed).integers(20, 230, size=(n, size, size, 3), dtype=np.uint8)
    images[:, :, : size // 2] //= 2  # some structure, so geometric operations move something
    return images, torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


def _as_u8(x: torch.Tensor) -> np.ndarray:
    return (x * 255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize(("ours", "pil"), [
    (lambda x: augmix.equalize(x), ImageOps.equalize),
    (lambda x: augmix.posterize(x, torch.tensor([3, 3, 3])), lambda im: ImageOps.posterize(im, 3)),
    (lambda x: augmix.solarize(x, torch.tensor([200, 200, 200])), lambda im: ImageOps.solarize(im, 200)),
])
def test_pixel_operations_equal_pil(ours, pil) -> None:  # type: ignore[no-untyped-def]
    images, x = _batch()
    expected = np.stack([np.asarray(pil(Image.fromarray(image))) for image in images])
    # Exact by construction: ours works on the 8-bit values (round(k / 255 * 255) is k: float32 error
    # measured 0, at most 2e-5, against a margin of 0.5) with integer operations, as PIL does.
    np.testing.assert_array_equal(_as_u8(ours(x)), expected)


def test_autocontrast_matches_pil_to_one_level() -> None:
    images, x = _batch()
    expected = np.stack([np.asarray(ImageOps.autocontrast(Image.fromarray(image))) for image in images])
    assert np.abs(_as_u8(augmix.autocontrast(x)).astype(int) - expected).max() <= 1


@pytest.mark.parametrize(("matrix", "pil"), [
    ((1, 0.25, 0, 0, 1, 0), lambda im: im.transform(im.size, Image.AFFINE, (1, 0.25, 0, 0, 1, 0), Image.BILINEAR)),
    ((1, 0, 0, -0.2, 1, 0), lambda im: im.transform(im.size, Image.AFFINE, (1, 0, 0, -0.2, 1, 0), Image.BILINEAR)),
    ((1, 0, 3, 0, 1, 0), lambda im: im.transform(im.size, Image.AFFINE, (1, 0, 3, 0, 1, 0), Image.BILINEAR)),
    (None, lambda im: im.rotate(20, resample=Image.BILINEAR)),
])
def test_geometric_operations_match_pil(matrix, pil) -> None:  # type: ignore[no-untyped-def]
    images, x = _batch(size=24)
    if matrix is None:
        matrices = torch.from_numpy(augmix.rotation_matrices(np.full(3, 20.0), 24))
    else:
        matrices = torch.tensor(matrix, dtype=torch.float64).reshape(1, 2, 3).repeat(3, 1, 1)
    ours = _as_u8(augmix.affine(x, matrices)).astype(int)
    expected = np.stack([np.asarray(pil(Image.fromarray(image))) for image in images]).astype(int)
    # Compare where the source point lies a pixel inside the image: at the border PIL fills a
    # sample that leaves the image while grid_sample blends it with black.
    ys, xs = np.mgrid[0:24, 0:24] + 0.5
    m = matrices[0].numpy()
    src_x, src_y = m[0, 0] * xs + m[0, 1] * ys + m[0, 2] - 0.5, m[1, 0] * xs + m[1, 1] * ys + m[1, 2] - 0.5
    inside = (src_x >= 1) & (src_x <= 22) & (src_y >= 1) & (src_y <= 22)
    assert inside.mean() > 0.4
    assert np.abs(ours[:, inside] - expected[:, inside]).max() <= 1  # PIL's weights are fixed-point


def test_augment_and_mix_keeps_range_and_is_deterministic() -> None:
    _, x = _batch(n=16)
    mixed = augmix.augment_and_mix(x, np.random.default_rng(0))
    assert mixed.shape == x.shape and mixed.min() >= 0 and mixed.max() <= 1
    torch.testing.assert_close(mixed, augmix.augment_and_mix(x, np.random.default_rng(0)))
    assert not torch.allclose(mixed, augmix.augment_and_mix(x, np.random.default_rng(1)))
    assert (mixed - x).abs().mean() > 0.005


def test_every_operation_runs_and_keeps_shape() -> None:
    _, x = _batch(n=4)
    for name in augmix.OPS:
        out = augmix.apply_op(name, x, np.random.default_rng(0))
        assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1, name
    with pytest.raises(ValueError, match="unknown AugMix operation"):
        augmix.apply_op("colour", x, np.random.default_rng(0))


def test_jensen_shannon_term_by_hand() -> None:
    logits = [torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([[1.0, 1.0, 3.0]])]
    p = [F.softmax(z, dim=1)[0].numpy().astype(float) for z in logits]
    m = sum(p) / 3
    expected = sum(float(np.sum(q * np.log(q / m))) for q in p) / 3
    assert augmix.jensen_shannon_consistency(*logits).item() == pytest.approx(expected, rel=1e-5)
    assert augmix.jensen_shannon_consistency(logits[0], logits[0], logits[0]).item() == pytest.approx(0, abs=1e-7)


def test_augmix_is_a_keyed_training_option_without_the_regularizer() -> None:
    plain = resolve_config("digits", alpha=0.0)
    with_augmix = resolve_config("digits", alpha=0.0, augmix=True)
    assert with_augmix.augmix and with_augmix.protocol_key() != plain.protocol_key()
    assert resolve_config("digits", alpha=0.0, augmix=False).protocol_key() == plain.protocol_key()
    with pytest.raises(SelrobError, match="AugMix runs train without the selectivity regularizer"):
        resolve_config("digits", alpha=-0.4, augmix=True)
