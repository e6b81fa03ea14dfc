"""Throughput of the unit-semantics analyses: Network Dissection (probe images/s per layer) and
channel ablation (channels/s).

    python benchmarks/unit_semantics_throughput.py [--device cpu|cuda] [--threads N] [--probe-images 500]
        [--ablation-images 900] [--torchvision-alexnet] [--tv-probe-images 256] [--tv-ablation-images 256]
        [--skip world|torchvision]

Models have untrained (randomly initialised) weights in eval mode: the work per image does not
depend on the weights, only which units cross their thresholds does.

1. ``alexnet_small`` (3 x 32 x 32, 10 classes) on the embedded world:

   * Network Dissection: :func:`selrob.evaluations.dissection.dissect_layers` over all 5
     dissected layers at once (three streamed passes: ranges, histograms, IoU and top images) on
     ``--probe-images`` images of the world's probe set (:func:`selrob.data.shape_texture.probe_set`,
     in batches as the world's probe set makes them, :mod:`selrob.evaluations.stimuli.world`; at 500
     images, its ``batches`` itself). Reports probe images/s (images / wall time), images x layers / s,
     the seconds of each pass and of one forward pass with the maps recorded.
   * Channel ablation: :func:`selrob.measures.ablation.channel_ablation` (top-1 decisions) of every
     dissected layer on ``--ablation-images`` of the world's cue-conflict images (as
     :func:`selrob.evaluations.channel_ablation.cue_conflict_images` makes them, all of them ablated).
     Reports per layer and in total channels/s and image-ablations (channels x images) / s, and
     the intact model's forward images/s for comparison.

2. On ``--device cuda`` (or on the CPU with ``--torchvision-alexnet``): the same two for
   torchvision's AlexNet at 224 px (``weights=None``, ImageNet normalisation inside the model, the
   post-ReLU layers ``features.1, 4, 7, 9, 11``), on random uint8 images: Network Dissection on
   ``--tv-probe-images`` images with random pixel labels at 112 x 112 (object and colour maps,
   a whole-image scene label; 8 concepts), channel ablation with 1000-class top-1 decisions on
   ``--tv-ablation-images`` images.

Writes ``benchmarks/results/unit_semantics_throughput_<device>.json``; a CPU run with
``--torchvision-alexnet`` writes ``unit_semantics_throughput_cpu_torchvision.json`` instead (so a
small-count test of that path does not replace the default CPU result). The 1-minute load average
before and after the run is recorded, with a note when other jobs were loading the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from selrob.data.batches import to_unit_float
from selrob.data.probe import Concepts, ImageLabels
from selrob.data.shape_texture import WORLD_SEED, as_image_set, build, cue_conflict_specs, probe_set
from selrob.device import device_description, resolve_device
from selrob.evaluations.dissection import dissect_layers
from selrob.evaluations.stimuli import PROBE_BATCH as BATCH
from selrob.evaluations.stimuli import Batches
from selrob.evaluations.stimuli.world import PROBE_IMAGES as WORLD_PROBE_IMAGES
from selrob.evaluations.stimuli.world import WORLD
from selrob.io import write_json
from selrob.measures.ablation import ablation_plan, channel_ablation, layer_channels
from selrob.measures.units import MapRecorder
from selrob.models import NormalizedModel, build_model, dissected_layers
from timing import load_report, timed

RESULTS = Path(__file__).resolve().parent / "results"
#: torchvision AlexNet's post-ReLU modules (after conv1..conv5), inside a NormalizedModel.
TORCHVISION_LAYERS = tuple(f"backbone.features.{i}" for i in (1, 4, 7, 9, 11))
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: The synthetic probe set's concepts: random object and colour pixel maps, a whole-image scene.
SYNTHETIC_CONCEPTS = Concepts(
    names=("-", "object-1", "object-2", "object-3", "color-1", "color-2", "scene-1", "scene-2", "scene-3"),
    category=("", "object", "object", "object", "color", "color", "scene", "scene", "scene"))
#: Images per forward pass of the intact model (its reference throughput).
INTACT_BATCH = 256


def batches_of(images: torch.Tensor, labels: Sequence[ImageLabels]) -> Batches:
    """Probe batches of ``BATCH`` (uint8 images, their labels), as a probe set's ``batches`` makes them."""
    def batches() -> Iterator[tuple[torch.Tensor, list[ImageLabels]]]:
        for start in range(0, len(labels), BATCH):
            yield images[start : start + BATCH], list(labels[start : start + BATCH])

    return batches


def world_probe(count: int) -> tuple[torch.Tensor, list[ImageLabels], Batches, Concepts]:
    """``count`` images of the world's probe set: images, labels, and the batches and concepts of
    the evaluation (the world's :class:`~selrob.evaluations.stimuli.ProbeSet`)."""
    data, labels, _ = probe_set(count)
    root = Path(".")  # the world's probe set is generated: no data folder is read
    return torch.from_numpy(data.images), labels, WORLD.probe.batches(root, count), WORLD.probe.concepts(root)


def synthetic_probe(count: int, size: int = 224, segmentation: int = 112,
                    seed: int = 0) -> tuple[torch.Tensor, list[ImageLabels], Batches, Concepts]:
    """Random uint8 ``size`` px images with random labels at ``segmentation`` px: per pixel an
    object (or none) and a colour (or none), per image one scene."""
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.integers(0, 256, (count, 3, size, size), dtype=np.uint8))
    grid = (segmentation, segmentation)
    labels = []
    for _ in range(count):
        colour = rng.integers(0, 3, grid)
        labels.append(ImageLabels(size=grid, pixel={"object": [rng.integers(0, 4, grid).astype(np.int32)],
                                                   "color": [np.where(colour > 0, colour + 3, 0).astype(np.int32)]},
                                  whole={"scene": [int(rng.integers(6, 9))]}))
    return images, labels, batches_of(images, labels), SYNTHETIC_CONCEPTS


class PassClock:
    """Probe batches that record each pass's wall seconds, from the first batch asked for to the
    end of the consumer's work on the last one. No CUDA synchronisation is needed: every pass of
    ``dissect_layers`` copies each batch's maps to the CPU, which waits for the device."""

    def __init__(self, batches: Batches) -> None:
        self.batches = batches
        self.seconds: list[float] = []

    def __call__(self) -> Iterator[tuple[torch.Tensor, list[ImageLabels]]]:
        started = time.perf_counter()
        yield from self.batches()
        self.seconds.append(time.perf_counter() - started)


@torch.no_grad()
def recorded_forward_seconds(model: nn.Module, layers: Sequence[str], batches: Batches, device: torch.device) -> float:
    """Seconds of one pass over ``batches`` with the maps of ``layers`` recorded (no measures)."""
    recorder = MapRecorder(model, list(layers))
    try:
        return timed(lambda: [model(to_unit_float(images.to(device))) for images, _ in batches()], device)[0]
    finally:
        recorder.close()


def dissection_benchmark(model: nn.Module, layers: Sequence[str], probe: tuple[torch.Tensor, list[ImageLabels],
                         Batches, Concepts], device: torch.device) -> dict[str, Any]:
    images, labels, batches, concepts = probe
    warm = min(len(labels), BATCH if device.type == "cuda" else 2)  # CUDA: kernels and cudnn's choices for a batch
    dissect_layers(model, layers, batches_of(images[:warm], labels[:warm]), concepts, device)
    clock = PassClock(batches)
    seconds, result = timed(lambda: dissect_layers(model, layers, clock, concepts, device), device)
    forward = recorded_forward_seconds(model, layers, batches, device)
    count = len(labels)
    report = {
        "images": count, "image_size": list(images.shape[2:]), "segmentation_size": list(labels[0].size),
        "batch": BATCH, "concepts": len(concepts.names) - 1, "layers": list(layers),
        "units": {layer: len(result[layer]["threshold"]) for layer in layers},
        "seconds": seconds, "images_per_second": count / seconds,
        "image_layers_per_second": count * len(layers) / seconds,
        "pass_seconds": dict(zip(("ranges", "histograms", "iou_and_top_images"), clock.seconds)),
        "recorded_forward_pass_seconds": forward,
        "forward_share_of_three_passes": 3 * forward / seconds,
    }
    print(f"  dissection, {count} images x {len(layers)} layers: {seconds:.2f} s, {count / seconds:.1f} images/s, "
          f"{count * len(layers) / seconds:.1f} images x layers / s (passes "
          f"{', '.join(f'{s:.2f}' for s in clock.seconds)} s; one forward pass {forward:.2f} s)", flush=True)
    return report


@torch.no_grad()
def intact_images_per_second(model: nn.Module, images: torch.Tensor, device: torch.device) -> float:
    def forward() -> None:
        for start in range(0, len(images), INTACT_BATCH):
            model(to_unit_float(images[start : start + INTACT_BATCH].to(device)))

    model(to_unit_float(images[:INTACT_BATCH].to(device)))  # warm-up
    return len(images) / timed(forward, device)[0]


def ablation_benchmark(model: nn.Module, layers: Sequence[str], images: torch.Tensor,
                       device: torch.device) -> dict[str, Any]:
    intact = intact_images_per_second(model, images, device)
    rows, total_seconds, total_channels = [], 0.0, 0
    for layer in layers:
        channels, values = layer_channels(model, layer, images, device)
        per_pass, group = ablation_plan(channels, values)
        warm = min(len(images), per_pass) if device.type == "cuda" else 1  # CUDA: a full pass's shapes
        channel_ablation(model, layer, images[:warm], device=device)
        seconds, ablation = timed(lambda: channel_ablation(model, layer, images, device=device), device)
        assert ablation.decisions.shape[:2] == (channels, len(images)), ablation.decisions.shape
        rows.append({"layer": layer, "channels": channels, "values_per_map": values, "images_per_pass": per_pass,
                     "channels_per_pass": group, "seconds": seconds, "channels_per_second": channels / seconds,
                     "image_ablations_per_second": channels * len(images) / seconds,
                     "image_ablations_per_intact_forward": channels * len(images) / seconds / intact})
        total_seconds, total_channels = total_seconds + seconds, total_channels + channels
        print(f"  ablation {layer}: {channels} channels x {len(images)} images in {seconds:.2f} s, "
              f"{channels / seconds:.2f} channels/s, {channels * len(images) / seconds:.0f} image-ablations/s",
              flush=True)
    print(f"  ablation, all layers: {total_channels} channels in {total_seconds:.2f} s, "
          f"{total_channels / total_seconds:.2f} channels/s (intact forward {intact:.0f} images/s)", flush=True)
    return {"images": len(images), "image_size": list(images.shape[2:]), "decision": "top-1 class",
            "intact_forward_images_per_second": intact, "intact_batch": INTACT_BATCH, "layers": rows,
            "total": {"channels": total_channels, "seconds": total_seconds,
                      "channels_per_second": total_channels / total_seconds,
                      "image_ablations_per_second": total_channels * len(images) / total_seconds}}


def world_cue_conflict_images(count: int) -> torch.Tensor:
    """The first ``count`` of the world's cue-conflict images (the evaluation's 900 at 10 per
    ordered class pair), uint8."""
    pairs = len(cue_conflict_specs(1, WORLD_SEED))
    return as_image_set(build(cue_conflict_specs(-(-count // pairs), WORLD_SEED)[:count])).images


def world_benchmark(probe_images: int, ablation_images: int, device: torch.device) -> dict[str, Any]:
    torch.manual_seed(0)
    model = build_model("alexnet_small", num_classes=10, in_channels=3, mean=[0.5] * 3,
                        std=[0.25] * 3).to(device).eval()
    layers = dissected_layers("alexnet_small")
    print(f"alexnet_small (untrained), {device_description(device)}:", flush=True)
    return {"model": "alexnet_small, untrained (random init), eval mode, 3 x 32 x 32, 10 classes",
            "dissection": dissection_benchmark(model, layers, world_probe(probe_images), device),
            "channel_ablation": ablation_benchmark(model, layers, world_cue_conflict_images(ablation_images), device)}


def torchvision_benchmark(probe_images: int, ablation_images: int, device: torch.device) -> dict[str, Any]:
    import torchvision

    torch.manual_seed(0)
    model = NormalizedModel(torchvision.models.alexnet(weights=None), IMAGENET_MEAN, IMAGENET_STD).to(device).eval()
    images = torch.randint(0, 256, (ablation_images, 3, 224, 224), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(1))
    print(f"torchvision AlexNet at 224 px (untrained), {device_description(device)}:", flush=True)
    return {"model": f"torchvision {torchvision.__version__} alexnet(weights=None) in ImageNet normalisation, eval "
                     "mode, 3 x 224 x 224, 1000 classes; random uint8 images, random pixel labels",
            "dissection": dissection_benchmark(model, TORCHVISION_LAYERS, synthetic_probe(probe_images), device),
            "channel_ablation": ablation_benchmark(model, TORCHVISION_LAYERS, images, device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads (default: all cores)")
    parser.add_argument("--probe-images", type=int, default=WORLD_PROBE_IMAGES)
    parser.add_argument("--ablation-images", type=int, default=900)
    parser.add_argument("--torchvision-alexnet", action="store_true",
                        help="also benchmark torchvision AlexNet at 224 px on the CPU (always on CUDA)")
    parser.add_argument("--tv-probe-images", type=int, default=256)
    parser.add_argument("--tv-ablation-images", type=int, default=256)
    parser.add_argument("--skip", choices=("world", "torchvision"), action="append", default=[])
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda requested but torch.cuda.is_available() is False (no CUDA GPU here)",
              file=sys.stderr)
        raise SystemExit(2)
    load_before = os.getloadavg()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    report: dict[str, Any] = {
        "benchmark": "unit_semantics_throughput", "device": device_description(device),
        "processor": device_description(torch.device("cpu")), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "weights": "untrained (random init): the work does not depend on the weights",
    }
    if device.type == "cuda":
        report["tf32"] = {"cudnn": torch.backends.cudnn.allow_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32}
    if "world" not in args.skip:
        report["alexnet_small"] = world_benchmark(args.probe_images, args.ablation_images, device)
    torchvision_run = (device.type == "cuda" or args.torchvision_alexnet) and "torchvision" not in args.skip
    if torchvision_run:
        report["torchvision_alexnet_224"] = torchvision_benchmark(args.tv_probe_images, args.tv_ablation_images, device)
    report["load"] = load_report(load_before, os.cpu_count() or 1)
    suffix = "_torchvision" if device.type == "cpu" and args.torchvision_alexnet else ""
    path = RESULTS / f"unit_semantics_throughput_{device.type}{suffix}.json"
    write_json(path, report)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
