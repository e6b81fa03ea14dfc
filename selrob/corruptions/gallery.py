"""Figure A1 style examples: one image under every corruption at every severity."""

from __future__ import annotations

from pathlib import Path

import matplotlib.cbook
import numpy as np
from PIL import Image

from selrob.corruptions import CORRUPTIONS, corrupt
from selrob.corruptions.frost_photos import photos_folder


def sample_image(size: int = 32) -> np.ndarray:
    """Matplotlib's bundled Grace Hopper photograph, centre-cropped to a square and box-downsampled
    to ``size`` pixels (32: CIFAR-sized), as uint8 (size, size, 3). Needs no download."""
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as photo:
        width, height = photo.size
        side = min(width, height)
        box = ((width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2)
        return np.asarray(photo.convert("RGB").crop(box).resize((size, size), Image.BOX))


def corruption_gallery(image: np.ndarray, table: str = "cifar10", seed: int = 0,
                       data_root: str | Path | None = None) -> dict[str, np.ndarray]:
    """Per corruption, a (6, H, W, C) stack: the clean image, then severities 1..5 (frost's
    photographs from ``data_root``'s ``frost`` folder, as ``selrob data make-c`` reads them)."""
    batch = image[None]
    with photos_folder(data_root):
        return {name: np.concatenate([batch, *(corrupt(batch, name, s, table, seed) for s in range(1, 6))])
                for name in CORRUPTIONS}
