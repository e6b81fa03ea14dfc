"""Network Dissection's measures (Bau et al. 2017; the second paper's section 3.3.2), as pure
functions of activation maps and segmentation labels, streamed over the probe set one batch at a
time (memory bounded by a batch, not the dataset).

* :class:`QuantileThresholds`: per unit (channel), the activation threshold at the top 0.5% of
  all its spatial activations over the probe set, from per-unit histograms over two passes (the
  first finds each unit's range, the second counts). With ``h = q (n - 1)`` (``numpy.quantile``'s
  position), the threshold is the upper edge of the bin holding the ``ceil(h)``-th smallest value
  ``x[ceil(h)]``: it lies in ``[x[ceil(h)], x[ceil(h)] + w]`` for the bin width ``w = (max - min) /
  bins`` (:attr:`QuantileThresholds.error_bound`), while ``numpy.quantile`` lies in
  ``[x[floor(h)], x[ceil(h)]]``.
* :class:`IoUAccumulator`: per image, each unit's map upsampled bilinearly to the segmentation
  size and thresholded to a mask ``M(x)``; summed over the dataset, Bau et al.'s ``IoU(u, c) =
  sum |M(x) AND L_c(x)| / sum |M(x) OR L_c(x)|``, where ``L_c(x)`` is the pixels that any of the
  image's label maps assigns to ``c`` (a pixel once, however many maps carry it; a whole-image
  label covers every pixel), and ``|M(x)|`` counts only on the images annotated for ``c``'s
  category: those that carry a concept of that category, in any of their maps or as a whole-image
  label. A concept that Broden lists in several categories belongs to its primary one
  (:meth:`selrob.data.broden.Labels.concepts`), wherever a map carries it.
* :class:`TopImages`: per unit, the probe images with the highest maximum activation over
  positions (the top-49 grids of Figs A12-A19), kept as a running top-k.
* :func:`unit_labels`: each unit's best concept, its category and IoU, "interpretable" at IoU >=
  0.04, and the second paper's diversity score, the number of concepts with IoU >= 0.01.

The probe set's labels come as :class:`~selrob.data.probe.ImageLabels` with their
:class:`~selrob.data.probe.Concepts` (:mod:`selrob.data.probe`).

NetDissect-Lite's code (``feature_operation.py``, ``tally_job``), which no longer runs, counts
differently in four ways: it adds a unit's ``|M(x)|`` for a category only on images where the mask
covers at least one pixel labelled with a concept of that category (fewer mask pixels: a higher IoU,
were it not for the next difference); it counts a pixel once per label map that carries the concept
(a pixel two maps label counts twice); on an image with only whole-image labels it reuses, and adds to, the category tally the previous unit left; and it
upsamples with ``scipy.misc.imresize(mode="F")`` (PIL's bilinear resize) and thresholds at an
approximate streamed quantile. Its primary category of a concept is the one here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from selrob.data.probe import Concepts, ImageLabels
from selrob.errors import SelrobError

#: NetDissect's top quantile and IoU thresholds, and the second paper's diversity threshold.
QUANTILE = 0.995
INTERPRETABLE_IOU = 0.04
DIVERSITY_IOU = 0.01
#: Upsampled map values (images x units x pixels) thresholded at once: memory bounded by a few
#: hundred MiB whatever the layer's width.
MASK_VALUES = 2**25


class QuantileThresholds:
    """Per-unit ``quantile`` of activations streamed in two passes over the same batches: feed
    every batch to :meth:`observe_range`, then every batch to :meth:`observe`, then read
    :meth:`thresholds`. Activations are (N, U, H, W) maps (every position counts) or (N, U)."""

    def __init__(self, units: int, quantile: float = QUANTILE, bins: int = 4096) -> None:
        if not 0 < quantile < 1:
            raise SelrobError(f"the quantile lies strictly between 0 and 1, got {quantile}")
        if bins < 2:
            raise SelrobError(f"need at least 2 histogram bins, got {bins}")
        self.units, self.quantile, self.bins = units, quantile, bins
        self.low = torch.full((units,), float("inf"), dtype=torch.float64)
        self.high = torch.full((units,), float("-inf"), dtype=torch.float64)
        self.counts = torch.zeros((units, bins), dtype=torch.int64)

    @staticmethod
    def _per_unit(activations: torch.Tensor) -> torch.Tensor:
        """(U, values) of a batch, on the CPU in float64."""
        return activations.detach().double().transpose(0, 1).reshape(activations.shape[1], -1).cpu()

    def observe_range(self, activations: torch.Tensor) -> None:
        values = self._per_unit(activations)
        self.low = torch.minimum(self.low, values.min(dim=1).values)
        self.high = torch.maximum(self.high, values.max(dim=1).values)

    @property
    def width(self) -> torch.Tensor:
        """Each unit's bin width (1 for a unit that never varies, whose every bin is its value)."""
        span = self.high - self.low
        return torch.where(span > 0, span / self.bins, torch.ones_like(span))

    def observe(self, activations: torch.Tensor) -> None:
        if not torch.isfinite(self.low).all():
            raise SelrobError("observe_range must see every batch before observe counts them")
        values = self._per_unit(activations)
        index = ((values - self.low[:, None]) / self.width[:, None]).floor().clamp_(0, self.bins - 1).long()
        self.counts.scatter_add_(1, index, torch.ones_like(index))

    @property
    def error_bound(self) -> torch.Tensor:
        """Per unit, the most the threshold can exceed the exact quantile: one bin width."""
        return self.width

    def thresholds(self) -> torch.Tensor:
        """(U,) float64: per unit the upper edge of the bin where the cumulative count first
        reaches ``quantile`` of its values (``numpy.quantile``'s linear interpolation lies in
        that bin or at its lower edge)."""
        total = self.counts.sum(dim=1, keepdim=True)
        if (total == 0).any():
            raise SelrobError("no activations were counted for some units")
        below = torch.cumsum(self.counts, dim=1)
        position = self.quantile * (total - 1) + 1  # the 1-based rank numpy.quantile interpolates to
        bin_of = (below < position.ceil()).sum(dim=1).clamp_(max=self.bins - 1)
        return self.low + (bin_of.double() + 1) * self.width


class IoUAccumulator:
    """Sums, over the probe images, each unit's mask area per category, each concept's label
    area and their intersections, as the module's IoU definition counts them."""

    def __init__(self, units: int, concepts: Concepts) -> None:
        self.units, self.concepts = units, concepts
        self.category_index = {c: k for k, c in enumerate(concepts.categories)}
        self.intersection = torch.zeros((units, len(concepts.names)), dtype=torch.float64)
        self.label_area = torch.zeros(len(concepts.names), dtype=torch.float64)
        self.mask_area = torch.zeros((units, len(self.category_index)), dtype=torch.float64)

    def update(self, activations: torch.Tensor, thresholds: torch.Tensor, labels: Sequence[ImageLabels]) -> None:
        """Add a batch: ``activations`` (N, U, h, w) maps, ``thresholds`` (U,), one
        :class:`ImageLabels` per image (all of one segmentation size per image)."""
        if len(labels) != len(activations):
            raise SelrobError(f"{len(activations)} activation maps but {len(labels)} label sets")
        labelled = [k for k, image in enumerate(labels) if image.categories()]  # others count for no concept
        for size in dict.fromkeys(tuple(labels[k].size) for k in labelled):
            same = [k for k in labelled if tuple(labels[k].size) == size]
            # One interpolation for as many of the batch's images of one segmentation size as
            # MASK_VALUES allows (ResNet-50's layer4 on Broden: one image at a time).
            step = max(1, MASK_VALUES // (self.units * size[0] * size[1]))
            for start in range(0, len(same), step):
                chunk = same[start : start + step]
                up = F.interpolate(activations[chunk].double(), size=size, mode="bilinear", align_corners=False)
                # float32 counts 0/1 pixels exactly (below 2**24 a map); the sums accumulate in float64.
                masks = (up > thresholds.to(up)[:, None, None]).reshape(len(chunk), self.units, -1).float().cpu()
                self._add([labels[k] for k in chunk], masks, size)

    def _add(self, images: Sequence[ImageLabels], masks: torch.Tensor, size: tuple[int, int]) -> None:
        """Count images of one segmentation size against their (N, U, pixels) thresholded masks."""
        if any(m.shape != size for image in images for ms in image.pixel.values() for m in ms):
            raise SelrobError(f"a label map differs from the image's segmentation size {size}")
        area = masks.sum(dim=2)
        separate: list[tuple[int, np.ndarray]] = []
        for k, image in enumerate(images):
            whole = sorted({n for numbers in image.whole.values() for n in numbers})
            for number in whole:
                self.intersection[:, number] += area[k]  # a whole-image label covers every pixel
                self.label_area[number] += masks.shape[2]
            maps = [np.where(np.isin(m, whole), 0, m) if whole else m  # its pixels are counted already
                    for category in image.categories() for m in image.pixel.get(category, ())]
            present = [set(np.unique(m).tolist()) - {0} for m in maps]
            # The image is annotated for the categories of the concepts it carries (whichever map
            # carries them): the mask counts there, so that no concept's intersection exceeds it.
            for category in {self.concepts.category[n] for n in set(whole).union(*present)} & self.category_index.keys():
                self.mask_area[:, self.category_index[category]] += area[k]
            if sum(map(len, present)) == len(set().union(*present)):  # no concept in two maps: count each alone
                separate.extend((k, m) for m in maps)
            else:
                self._add_overlapping(masks[k], maps)
        # Maps whose concepts no other map of their image carries: one index_add over all the
        # pixels of as many maps as MASK_VALUES allows counts the intersections.
        step = max(1, MASK_VALUES // (self.units * masks.shape[2]))
        for start in range(0, len(separate), step):
            chunk = separate[start : start + step]
            numbers = torch.from_numpy(np.stack([m.ravel() for _, m in chunk])).long().ravel()
            # Rows of (pixels, U) are contiguous; float32 counts exactly below 2**24 pixels a chunk.
            flat = masks[[k for k, _ in chunk]].transpose(1, 2).reshape(-1, self.units)
            counts = torch.zeros((len(self.label_area), self.units)).index_add_(0, numbers, flat)
            self.intersection += counts.T.double()
            self.label_area += torch.bincount(numbers, minlength=len(self.label_area)).double()

    def _add_overlapping(self, mask: torch.Tensor, pixel: Sequence[np.ndarray]) -> None:
        """One image's (U, pixels) masks against label maps that share concepts, a pixel counted
        once per concept however many of its maps carry it."""
        numbers = np.unique(np.concatenate([m.ravel() for m in pixel]))
        numbers = numbers[numbers > 0]
        present = torch.from_numpy(np.stack([np.any([m.ravel() == n for m in pixel], axis=0)
                                             for n in numbers]).astype(np.float32))
        self.intersection[:, numbers] += mask @ present.T
        self.label_area[numbers] += present.sum(dim=1)

    def iou(self) -> torch.Tensor:
        """(U, concepts) IoU of every unit with every concept (0 where neither was ever seen)."""
        column = torch.tensor([self.category_index.get(c, 0) for c in self.concepts.category])
        union = self.mask_area[:, column] + self.label_area[None, :] - self.intersection
        iou = torch.where(union > 0, self.intersection / union.clamp(min=1e-12), torch.zeros_like(union))
        iou[:, 0] = 0  # concept 0 is "none"
        return iou


class TopImages:
    """Per unit, the ``count`` probe images whose maximum activation over positions is highest,
    merged batch by batch (memory: ``units x count``); ties keep the earlier image."""

    def __init__(self, units: int, count: int = 49) -> None:
        if count < 1:
            raise SelrobError(f"need at least 1 top image per unit, got {count}")
        self.count = count
        self.values = torch.empty((units, 0), dtype=torch.float64)
        self.indices = torch.empty((units, 0), dtype=torch.int64)
        self.seen = 0

    def update(self, activations: torch.Tensor) -> None:
        """Add the next batch of (N, U, h, w) maps or (N, U) activations, in probe-set order."""
        peak = activations.detach().double().cpu()
        peak = peak.flatten(2).amax(dim=2) if peak.dim() > 2 else peak
        numbers = torch.arange(self.seen, self.seen + len(peak)).expand(peak.shape[1], -1)
        self.seen += len(peak)
        values, indices = torch.cat([self.values, peak.T], dim=1), torch.cat([self.indices, numbers], dim=1)
        # A stable sort on descending values keeps the earlier image of a tie first.
        order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, : self.count]
        self.values, self.indices = values.gather(1, order), indices.gather(1, order)


def unit_labels(iou: torch.Tensor, concepts: Concepts, layer: str = "") -> pd.DataFrame:
    """Per unit: its best concept (``label``), that concept's ``category`` and ``iou``, whether it
    is ``interpretable`` (IoU >= 0.04) and its ``diversity`` (concepts with IoU >= 0.01)."""
    best = iou.argmax(dim=1)
    values = iou.gather(1, best[:, None]).squeeze(1)
    return pd.DataFrame({
        "layer": layer, "unit": np.arange(len(iou)), "label": [concepts.names[int(b)] for b in best],
        "category": [concepts.category[int(b)] for b in best], "iou": values.numpy(),
        "interpretable": (values >= INTERPRETABLE_IOU).numpy(), "diversity": (iou >= DIVERSITY_IOU).sum(dim=1).numpy(),
    })
