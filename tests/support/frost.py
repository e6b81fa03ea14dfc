"""Stand-in frost photographs: tests never download the real ones."""

from __future__ import annotations

from pathlib import Path


def write_frost_photos(folder: Path) -> dict[str, str]:
    """Five stand-in frost photographs (smooth noise, PNG and JPEG as the real ones) in ``folder``;
    returns their SHA-256 sums by name."""
    import hashlib

    import numpy as np
    from PIL import Image
    from scipy import ndimage

    from selrob.corruptions.frost_photos import PHOTOS

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    sums = {}
    for name in PHOTOS:
        texture = ndimage.gaussian_filter(rng.uniform(0, 255, size=(240, 320, 3)), (3, 3, 0))
        Image.fromarray(texture.astype(np.uint8)).save(folder / name)
        sums[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    return sums
