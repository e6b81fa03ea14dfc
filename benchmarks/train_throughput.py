"""Training-step throughput of ResNet20 (32x32x3, batch 256) with and without the regularizer.

    python benchmarks/train_throughput.py [--device cpu|cuda] [--steps 10]

Times :func:`selrob.training.loop.training_step`, the exact step the training loop runs (on one
model, a stack of one), for
alpha = 0 (plain cross-entropy, no unit hooks) and alpha = 1 (hooks on all 19 post-ReLU layers
plus the minibatch selectivity term). Target: the regularizer costs at most 10% of step time.
On CUDA it also projects the paper's CIFAR-10 sweep (13 alphas x 20 seeds x 200 epochs of 45k
images). Writes ``benchmarks/results/train_throughput_<device>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path

import torch

from selrob.measures.units import UnitRecorder
from selrob.device import device_description, resolve_device
from selrob.io import write_json
from selrob.models import build_model
from selrob.models.placement import channels_last
from selrob.models.stacked import StackedModels
from selrob.training.loop import training_step

RESULTS = Path(__file__).resolve().parent / "results"


def time_steps(alpha: float, device: torch.device, batch: int, steps: int, repeats: int) -> list[float]:
    """Seconds per step, one median per repeat (after warm-up steps)."""
    torch.manual_seed(0)
    # Channels-last, as the training loop trains.
    model = channels_last(StackedModels([build_model("resnet20", num_classes=10, in_channels=3, mean=[0.5] * 3,
                                                     std=[0.25] * 3)]).to(device))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    inputs = torch.rand(batch, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    recorder = UnitRecorder(model) if alpha else contextlib.nullcontext()
    medians = []
    with recorder as units:
        for _ in range(3):
            training_step(model, optimizer, inputs, labels, [alpha], 10, 1e-6, units)
        for _ in range(repeats):
            times = []
            for _ in range(steps):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                started = time.perf_counter()
                training_step(model, optimizer, inputs, labels, [alpha], 10, 1e-6, units)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - started)
            medians.append(statistics.median(times))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    results = {}
    # Interleave the two modes so drifts in machine load hit both alike.
    plain, regularized = [], []
    for _ in range(args.repeats):
        plain += time_steps(0.0, device, args.batch_size, args.steps, 1)
        regularized += time_steps(1.0, device, args.batch_size, args.steps, 1)
    for name, samples in (("plain", plain), ("regularized", regularized)):
        seconds = statistics.median(samples)
        results[name] = {"seconds_per_step": seconds, "images_per_second": args.batch_size / seconds}
    overhead = results["regularized"]["seconds_per_step"] / results["plain"]["seconds_per_step"] - 1
    report = {
        "benchmark": "train_throughput",
        "model": "resnet20",
        "input": [3, 32, 32],
        "batch_size": args.batch_size,
        "device": device_description(device),
        "torch_version": torch.__version__,
        "mixed_precision": "bf16 autocast" if device.type == "cuda" else "none (fp32)",
        "results": results,
        "regularizer_overhead": overhead,
        "target_overhead_at_most": 0.10,
        "meets_target": overhead <= 0.10,
    }
    if device.type == "cuda":
        images = 13 * 20 * 200 * 45_000
        regularized_share = 12 / 13  # every alpha of the grid except 0
        seconds = images * (regularized_share / results["regularized"]["images_per_second"]
                            + (1 - regularized_share) / results["plain"]["images_per_second"])
        report["projected_cifar10_sweep_gpu_hours"] = seconds / 3600
    path = RESULTS / f"train_throughput_{device.type}.json"
    write_json(path, report)
    print(json.dumps(report, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
