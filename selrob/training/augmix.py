"""AugMix (Hendrycks et al., 2020) as used in appendix A.4: mixture width 3, stochastic depth 1-3,
augmentation probability 1, severity 2, Jensen-Shannon consistency loss with weight 12.

The default operation list of the AugMix reference code, which leaves out the operations that
overlap with the -C corruptions (colour, contrast, brightness, sharpness): autocontrast,
equalize, posterize, rotate, solarize, shear and translate along x and y, with the reference's
magnitude rules (``sample_level`` = U(0.1, severity), scaled to each operation's maximum / 10,
random sign for the geometric ones). The reference runs PIL on one image at a time; here each
operation runs on all the images of a batch that drew it, on their device, with PIL's
conventions (affine maps of pixel centres, bilinear sampling, black fill, 8-bit values).
Mixing happens on [0, 1] images: the reference mixes normalised images, which is the same
because normalisation is affine and the mixing weights sum to one.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

WIDTH = 3
MAX_DEPTH = 3
SEVERITY = 2
MIX_ALPHA = 1.0  # Dirichlet and Beta concentration
JSD_WEIGHT = 12.0
OPS = ("autocontrast", "equalize", "posterize", "rotate", "solarize", "shear_x", "shear_y", "translate_x", "translate_y")


def _to_u8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round_().clamp_(0, 255).to(torch.uint8)


def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each image to the full range (PIL ``ImageOps.autocontrast``)."""
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    span = high - low
    return torch.where(span > 0, (x - low) / span.clamp_min(1e-12), x)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each 8-bit channel (PIL ``ImageOps.equalize``)."""
    from torchvision.transforms.v2 import functional  # seconds to import; only AugMix needs it

    return functional.equalize(_to_u8(x)).float() / 255


def posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Keep the top ``bits`` (per image) of each 8-bit value."""
    mask = (0xFF << (8 - bits.long())) & 0xFF
    return (_to_u8(x).long() & mask[:, None, None, None]).float() / 255


def solarize(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Invert 8-bit values at or above ``threshold`` (per image)."""
    u8 = _to_u8(x).float()
    return torch.where(u8 >= threshold[:, None, None, None], 255 - u8, u8) / 255


def affine(x: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """PIL ``Image.transform(AFFINE, (a, b, c, d, e, f), BILINEAR)`` per image: output pixel
    centre (x, y) reads the input at (a x + b y + c, d x + e y + f); outside is black."""
    batch, _, height, width = x.shape
    ys, xs = torch.meshgrid(torch.arange(height, device=x.device) + 0.5,
                            torch.arange(width, device=x.device) + 0.5, indexing="ij")
    points = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(-1, 3).float()
    source = points @ matrices.float().transpose(1, 2)  # (B, H*W, 2) in pixel units
    scale = torch.tensor([2.0 / width, 2.0 / height], device=x.device)
    grid = (source * scale - 1).reshape(batch, height, width, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rotation_matrices(degrees: np.ndarray, size: int) -> np.ndarray:
    """PIL ``rotate(degrees)`` (counter-clockwise about the centre) as (N, 2, 3) affine maps."""
    angle = -np.radians(degrees)
    cos, sin, centre = np.cos(angle), np.sin(angle), size / 2
    matrices = np.zeros((len(degrees), 2, 3))
    matrices[:, 0, :2] = np.stack([cos, sin], axis=1)
    matrices[:, 1, :2] = np.stack([-sin, cos], axis=1)
    matrices[:, :, 2] = centre - matrices[:, :, :2].sum(axis=2) * centre
    return matrices


def _levels(rng: np.random.Generator, n: int, maximum: float, severity: float, integer: bool) -> np.ndarray:
    """The reference's ``int_parameter`` / ``float_parameter`` of ``sample_level(severity)``."""
    levels = rng.uniform(0.1, severity, size=n) * maximum / 10
    return np.floor(levels) if integer else levels


def _signed(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    return np.where(rng.uniform(size=len(values)) > 0.5, -values, values)


def apply_op(name: str, x: torch.Tensor, rng: np.random.Generator, severity: float = SEVERITY) -> torch.Tensor:
    """Operation ``name`` on every image of ``x`` (B, C, H, W) in [0, 1], magnitudes drawn per image."""
    n, size = x.shape[0], x.shape[-1]
    if name == "autocontrast":
        return autocontrast(x)
    if name == "equalize":
        return equalize(x)
    if name == "posterize":
        return posterize(x, torch.from_numpy(4 - _levels(rng, n, 4, severity, True)).to(x.device))
    if name == "solarize":
        return solarize(x, torch.from_numpy(256 - _levels(rng, n, 256, severity, True)).to(x.device))
    matrices = np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (n, 1, 1))
    if name == "rotate":
        matrices = rotation_matrices(_signed(rng, _levels(rng, n, 30, severity, True)), size)
    elif name.startswith("shear"):
        level = _signed(rng, _levels(rng, n, 0.3, severity, False))
        matrices[:, 0, 1] = level if name == "shear_x" else 0
        matrices[:, 1, 0] = level if name == "shear_y" else 0
    elif name.startswith("translate"):
        level = _signed(rng, _levels(rng, n, size / 3, severity, True))
        matrices[:, 0 if name == "translate_x" else 1, 2] = level
    else:
        raise ValueError(f"unknown AugMix operation {name!r}")
    return affine(x, torch.from_numpy(matrices).to(x.device))


def augment_and_mix(
    x: torch.Tensor,
    rng: np.random.Generator,
    width: int = WIDTH,
    severity: float = SEVERITY,
    mix_alpha: float = MIX_ALPHA,
) -> torch.Tensor:
    """AugMix of a batch: per image, ``width`` chains of 1-3 random operations, mixed with
    Dirichlet weights, then blended with the original by m ~ Beta(mix_alpha, mix_alpha)."""
    n = x.shape[0]
    weights = torch.from_numpy(rng.dirichlet([mix_alpha] * width, size=n)).float().to(x.device)
    m = torch.from_numpy(rng.beta(mix_alpha, mix_alpha, size=n)).float().to(x.device)[:, None, None, None]
    mix = torch.zeros_like(x)
    for chain in range(width):
        depth = rng.integers(1, MAX_DEPTH + 1, size=n)
        image = x.clone()
        for step in range(MAX_DEPTH):
            chosen = rng.integers(0, len(OPS), size=n)
            for k, name in enumerate(OPS):
                members = np.flatnonzero((chosen == k) & (depth > step))
                if members.size:
                    index = torch.from_numpy(members).to(x.device)
                    image[index] = apply_op(name, image[index], rng, severity)
        mix += weights[:, chain, None, None, None] * image
    return (1 - m) * x + m * mix


def jensen_shannon_consistency(logits_clean: torch.Tensor, logits_aug1: torch.Tensor, logits_aug2: torch.Tensor) -> torch.Tensor:
    """The AugMix consistency term: mean KL of each of the three predictions from their mixture,
    ``(KL(M || p_clean) + KL(M || p_1) + KL(M || p_2)) / 3`` with M clamped to [1e-7, 1]."""
    probabilities = [F.softmax(logits.float(), dim=1) for logits in (logits_clean, logits_aug1, logits_aug2)]
    log_mixture = torch.clamp(sum(probabilities) / 3, 1e-7, 1).log()
    return sum(F.kl_div(log_mixture, p, reduction="batchmean") for p in probabilities) / 3


def augmix_numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """A NumPy generator drawn from the epoch's torch generator (Dirichlet and Beta draws)."""
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))

