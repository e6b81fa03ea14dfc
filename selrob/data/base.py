"""Image sets as uint8 tensors held in memory, plus the facts each dataset fixes."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DatasetInfo:
    """What a model and the training protocol need to know about a dataset.

    ``mean``/``std`` are per-channel statistics of [0, 1] training images, applied inside the
    model. ``hflip``/``crop_padding`` describe the training augmentation.
    """

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    hflip: bool
    crop_padding: int


@dataclass
class ImageSet:
    """Images as a uint8 (N, C, H, W) tensor and labels as int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError("images must be a uint8 tensor of shape (N, C, H, W)")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must have one entry per image")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> ImageSet:
        """The images at ``index`` (a LongTensor)."""
        return ImageSet(self.images[index], self.labels[index])

    def head(self, limit: int | None) -> ImageSet:
        """The first ``limit`` images (all of them for ``None``): what smoke runs evaluate on."""
        return self if limit is None else self.subset(torch.arange(min(limit, len(self))))

    def to(self, device: torch.device | str) -> ImageSet:
        """Move both tensors to ``device`` (images stay uint8: 4x less memory than float)."""
        return ImageSet(self.images.to(device), self.labels.to(device))


@dataclass
class Splits:
    """Train / validation / test sets of one seed."""

    train: ImageSet
    val: ImageSet
    test: ImageSet
    info: DatasetInfo

    def to(self, device: torch.device | str) -> Splits:
        """The three sets on ``device``."""
        return Splits(self.train.to(device), self.val.to(device), self.test.to(device), self.info)
