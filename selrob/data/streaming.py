"""ImageNet-scale training data: images decoded from an ImageFolder tree by worker processes.

The in-memory sets of the small datasets (:mod:`selrob.data.batches`) cannot hold ImageNet's 1.28M
training JPEGs, so these are read from torchvision's ``ImageFolder`` layout (``root/<wnid>/*.JPEG``,
class index = the folder's position in sorted order, as in :mod:`selrob.data.imagenet` and
torchvision's pretrained models) and decoded by a ``DataLoader``'s workers, each batch as
(N, 3, crop, crop) float images in [0, 1] (the models normalise inside).

Transforms (the robustness library's ImageNet training recipe, with which the paper's R models
were trained): training images get torchvision's RandomResizedCrop(``crop``, scale 0.08-1, ratio
3/4-4/3, bilinear), RandomHorizontalFlip, ColorJitter(brightness, contrast and saturation 0.1) and
AlexNet's PCA lighting noise (:func:`lighting`, standard deviation 0.05; like the library's, it may
leave [0, 1] by a few hundredths); validation images Resize(``resize``) of the shorter side and
CenterCrop(``crop``). Each training image's random draws come from torch's CPU generator seeded by
(seed, epoch, image index) for that image alone (:func:`sample_seed`), and the epoch's order is a
permutation seeded by (seed, epoch) split between the processes of data-parallel training
(:class:`EpochShardSampler`), so what a model sees is the same with any number of processes and
loader workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.transforms import ColorJitter, Compose, InterpolationMode, RandomHorizontalFlip, RandomResizedCrop
from torchvision.transforms import functional as TF

from selrob.data.imagenet import CROP, RESIZE
from selrob.errors import SelrobError

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".ppm", ".bmp", ".webp")


#: AlexNet's PCA of ImageNet's RGB pixels (Krizhevsky et al. 2012, sec. 4.1), as the robustness
#: library's ``Lighting`` uses it: eigenvalues, and eigenvectors as columns.
IMAGENET_PCA_EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
IMAGENET_PCA_EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009],
                                    [-0.5808, -0.0045, -0.8140],
                                    [-0.5836, -0.6948, 0.4203]])
LIGHTING_STD = 0.05


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one training image's augmentation in one epoch."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, dtype=np.uint64)[0]) >> 1


def lighting(image: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """AlexNet's PCA lighting noise on a (3, H, W) RGB image: the same offset
    ``eigvec @ (alpha * eigval)`` added to every pixel, for one draw ``alpha`` (3,)."""
    return image + (IMAGENET_PCA_EIGVEC @ (alpha * IMAGENET_PCA_EIGVAL))[:, None, None]


class ImageFolderSet(Dataset[tuple[torch.Tensor, int]]):
    """The images of an ImageFolder tree; items are looked up by ``(index, epoch)``.

    Args:
        root: folder with one sub-folder per class.
        train: random-resized crops and flips (else resize and center crop).
        seed: seeds the training augmentation with the epoch and index.
        crop, resize: output side, and the validation resize of the shorter side.
    """

    def __init__(self, root: str | Path, train: bool, seed: int = 0, crop: int = CROP, resize: int = RESIZE) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise SelrobError(f"image folder {self.root} does not exist; it needs one sub-folder of images per class")
        self.classes = sorted(entry.name for entry in self.root.iterdir() if entry.is_dir())
        samples = [(path, label) for label, name in enumerate(self.classes)
                   for path in sorted((self.root / name).rglob("*")) if path.suffix.lower() in IMAGE_SUFFIXES]
        if not samples:
            raise SelrobError(f"image folder {self.root} holds no images in class sub-folders "
                              f"({', '.join(IMAGE_SUFFIXES)})")
        # NumPy arrays (paths as bytes under the root), not 1.28M Python objects: reading those
        # would update their reference counts and copy their pages into every forked loader worker.
        self.paths = np.array([os.fsencode(path.relative_to(self.root)) for path, _ in samples])
        self.labels = np.array([label for _, label in samples], dtype=np.int64)
        self.train, self.seed, self.crop, self.resize = train, seed, crop, resize
        self.augment = Compose([RandomResizedCrop(crop, interpolation=InterpolationMode.BILINEAR),
                                RandomHorizontalFlip(), ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1)])

    def __len__(self) -> int:
        return len(self.paths)

    def path(self, index: int) -> Path:
        """The file of image ``index``."""
        return self.root / os.fsdecode(self.paths[index])

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, epoch = key
        with Image.open(self.path(index)) as opened:
            image = opened.convert("RGB")
        if not self.train:
            image = TF.center_crop(TF.resize(image, self.resize, InterpolationMode.BILINEAR), self.crop)
            return TF.pil_to_tensor(image).float().div_(255.0), int(self.labels[index])
        # torchvision's transforms draw from the global CPU generator: fork it for this image alone
        # and seed only it (torch.manual_seed would also reseed every GPU's generator).
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(sample_seed(self.seed, epoch, index))
            pixels = TF.pil_to_tensor(self.augment(image)).float().div_(255.0)
            return lighting(pixels, torch.randn(3) * LIGHTING_STD), int(self.labels[index])


class EpochShardSampler(Sampler[tuple[int, int]]):
    """One process's share of each epoch: the epoch's permutation (seeded by seed and epoch) cut
    to whole global batches, every ``world``-th image from ``rank`` on (with ``shuffle``), or the
    images in order with every ``world``-th one from ``rank`` on (validation). Global batch ``b``
    of all processes together is images ``[b * G, (b + 1) * G)`` of the permutation, as in one
    process with batch ``G``."""

    def __init__(self, size: int, rank: int, world: int, seed: int, shuffle: bool, global_batch: int = 1) -> None:
        self.size, self.rank, self.world, self.seed, self.shuffle = size, rank, world, seed, shuffle
        self.global_batch = global_batch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.rank, self.size, self.world))
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(int(state))).tolist()
        usable = self.size - self.size % self.global_batch
        return order[self.rank:usable:self.world]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(index, self.epoch) for index in self._indices()])

    def __len__(self) -> int:
        return len(self._indices())


def image_folder_loader(data: ImageFolderSet, sampler: EpochShardSampler, batch_size: int, workers: int,
                        pin_memory: bool) -> DataLoader[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of ``data`` in ``sampler``'s order, decoded by ``workers`` processes (0: here)."""
    return DataLoader(data, batch_size=batch_size, sampler=sampler, num_workers=workers, pin_memory=pin_memory,
                      persistent_workers=workers > 0, drop_last=False)
