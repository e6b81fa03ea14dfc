"""Evaluation throughput of a loaded model in the default (contiguous) and the channels-last layout.

    python benchmarks/eval_throughput.py [--device cpu|cuda] [--repeats 5] [--threads 1]

Every evaluation runs a model loaded by :func:`selrob.models.placement.place_for_evaluation`
(channels-last weights and inputs); ``contiguous`` is the same model as built. This times, per architecture and input size of the embedded studies
(digits 1x8x8 for ResNet20, the shape-texture world's 3x32x32 and a 3x64x64 image for
alexnet_small and ResNet20), images per second of the two passes evaluations are made of: the
forward pass of predictions (no grad, batches of
:func:`selrob.evaluations.common.batch_size_for`) and the input-gradient pass of the attacks
(forward and backward to the images). Writes ``benchmarks/results/eval_throughput_<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import torch

from timing import load_report, timed
from selrob.data.base import ImageSet
from selrob.device import device_description, resolve_device
from selrob.evaluations.common import batch_size_for
from selrob.io import write_json
from selrob.models import build_model
from selrob.models.placement import place_for_evaluation

RESULTS = Path(__file__).resolve().parent / "results"
#: (arch, channels, side): digits' ResNet20, then the shape-texture world's two architectures at
#: its 32 pixels and at 64.
CASES = (("resnet20", 1, 8), ("alexnet_small", 3, 32), ("resnet20", 3, 32), ("alexnet_small", 3, 64),
         ("resnet20", 3, 64))
LAYOUTS = ("contiguous", "channels_last")


def images_per_second(arch: str, channels: int, side: int, layout: str, gradient: bool,
                      device: torch.device, repeats: int) -> float:
    """Median images/s over ``repeats`` timed batches (after one warm-up batch)."""
    torch.manual_seed(0)
    model = build_model(arch, num_classes=10, in_channels=channels, mean=[0.5] * channels, std=[0.25] * channels)
    model = place_for_evaluation(model, device) if layout == "channels_last" else model.to(device).eval()
    batch = batch_size_for(ImageSet(torch.zeros(1, channels, side, side, dtype=torch.uint8), torch.zeros(1, dtype=torch.long)))
    images = torch.rand(batch, channels, side, side, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return model(images).argmax(dim=1)

    def input_gradient() -> torch.Tensor:
        inputs = images.clone().requires_grad_(True)
        return torch.autograd.grad(torch.nn.functional.cross_entropy(model(inputs), labels), inputs)[0]

    run = input_gradient if gradient else forward
    run()
    return batch / statistics.median(timed(run, device)[0] for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: as each evaluation worker)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    before = os.getloadavg()
    rows = []
    for arch, channels, side in CASES:
        for gradient in (False, True):
            speeds = {layout: images_per_second(arch, channels, side, layout, gradient, device, args.repeats)
                      for layout in LAYOUTS}
            rows.append({"arch": arch, "input": [channels, side, side],
                         "pass": "input gradient" if gradient else "forward", "images_per_second": speeds,
                         "channels_last_speedup": speeds["channels_last"] / speeds["contiguous"]})
            print(f"{arch:14s} {channels}x{side}x{side} {rows[-1]['pass']:15s} "
                  f"{speeds['contiguous']:8.0f} -> {speeds['channels_last']:8.0f} img/s "
                  f"({rows[-1]['channels_last_speedup']:.2f}x)", flush=True)
    report = {"benchmark": "eval_throughput", "device": device_description(device), "torch_version": torch.__version__,
              "threads": torch.get_num_threads(), "results": rows, **load_report(before, os.cpu_count() or 1)}
    path = RESULTS / f"eval_throughput_{device.type}.json"
    write_json(path, report)
    print(json.dumps(report, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
