"""ImageNet-scale training data: images decoded from an ImageFolder tree by worker processes.

The in-memory sets of the small datasets (:mod:`selrob.data.batches`) cannot hold ImageNet's 1.28M
training JPEGs, so these are read from torchvision's ``ImageFolder`` layout (``root/<wnid>/*.JPEG``,
class index = the folder's position in sorted order, as in :mod:`selrob.data.imagenet` and
torchvision's pretrained models) and decoded by a ``DataLoader``'s workers, each batch as
(N, 3, crop, crop) float images in [0, 1] (the models normalise inside).

Transforms (torchvision's ImageNet recipe, the robustness library's too): training images get
RandomResizedCrop(``crop``, scale 0.08-1, ratio 3/4-4/3, bilinear) and a horizontal flip with
probability 1/2; validation images Resize(``resize``) of the shorter side and CenterCrop(``crop``).
Each training image's crop and flip are drawn from a generator seeded by (seed, epoch, image index),
and the epoch's order is a permutation seeded by (seed, epoch) split between the processes of
data-parallel training (:class:`EpochShardSampler`), so what a model sees is the same with any
number of processes and loader workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.transforms import InterpolationMode, RandomResizedCrop
from torchvision.transforms import functional as TF

from selrob.data.imagenet import CROP, RESIZE
from selrob.errors import SelrobError

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".ppm", ".bmp", ".webp")


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The CPU generator of one training image's augmentation in one epoch."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


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
        self.samples = [(path, label) for label, name in enumerate(self.classes)
                        for path in sorted((self.root / name).rglob("*")) if path.suffix.lower() in IMAGE_SUFFIXES]
        if not self.samples:
            raise SelrobError(f"image folder {self.root} holds no images in class sub-folders "
                              f"({', '.join(IMAGE_SUFFIXES)})")
        self.train, self.seed, self.crop, self.resize = train, seed, crop, resize

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, epoch = key
        path, label = self.samples[index]
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        if self.train:
            image = self._augment(image, sample_generator(self.seed, epoch, index))
        else:
            image = TF.center_crop(TF.resize(image, self.resize, InterpolationMode.BILINEAR), self.crop)
        return TF.pil_to_tensor(image).float().div_(255.0), label

    def _augment(self, image: Image.Image, generator: torch.Generator) -> Image.Image:
        # RandomResizedCrop.get_params draws from the global generator: fork it for this image alone.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
            top, left, height, width = RandomResizedCrop.get_params(image, [0.08, 1.0], [3 / 4, 4 / 3])
        image = TF.resized_crop(image, top, left, height, width, [self.crop, self.crop], InterpolationMode.BILINEAR)
        return TF.hflip(image) if bool(torch.rand((), generator=generator) < 0.5) else image


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
