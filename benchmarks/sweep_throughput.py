"""Sweep-training throughput: models x images per second, one model at a time vs K trained as one.

    python benchmarks/sweep_throughput.py [--device cpu|cuda] [--shapes digits cifar10]
        [--counts 1 2 4 8] [--steps 15] [--sweep] [--repeats 2] [--contiguous] [--compile]

Times :func:`selrob.training.loop.training_step`, the step the training loop runs, on a
:class:`selrob.models.stacked.StackedModels` of K models (K = 1 is one model alone), every model
regularized (12 of the 13 CIFAR alphas are not 0), at each shape's architecture, input and batch
per model: ``digits`` ResNet20 on 1x8x8 (batch 128, the embedded sweep), ``cifar10`` ResNet20 on
3x32x32 (batch 256), ``tinyimagenet`` ResNet18 on 3x64x64 (batch 4096, the paper's). On the CPU each process uses one thread, as the sweep's
worker processes do. The stack is channels-last, as the training loop's
(:func:`selrob.models.placement.channels_last`; ``--contiguous`` times the default layout instead).
On CUDA the step runs in bf16 autocast, optionally compiled (static shapes: one graph per K), and
the report adds the peak GPU memory per K (what its step adds to the memory in use, plus the
stack's weights, momentum and batch) and the projected GPU-hours of the paper's CIFAR-10 sweep
(13 alphas x 20 seeds x 200 epochs of 45,000 images) and Tiny ImageNet ResNet18 sweep (15 x 20 x
90 epochs of 90,000 images) at the fastest K that ``selrob sweep`` would stack
(:func:`selrob.pipeline.sweep.stack_size`: 16 CIFAR-10 runs, one Tiny ImageNet run); the target
is the CIFAR-10 sweep in at most 4 hours on one H200.

``--sweep`` also trains the default digits grid (15 runs) with ``selrob.run_sweep`` both ways, one
run per worker process and together, in fresh folders, ``--repeats`` times in alternation: the
end-to-end speedup on this machine, from the median times.
Writes ``benchmarks/results/sweep_throughput_<device>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch

from timing import load_report, timed
from selrob.arguments import positive_int
from selrob.config import resolve_config, sweep_configs
from selrob.data import dataset_info
from selrob.device import device_description, resolve_device
from selrob.io import write_json
from selrob.measures.units import UnitRecorder
from selrob.models import build_model
from selrob.models.placement import channels_last
from selrob.models.stacked import StackedModels
from selrob.parallel import limit_threads
from selrob.pipeline.sweep import MAX_TOGETHER, run_sweep, stack_size
from selrob.training.loop import training_step

RESULTS = Path(__file__).resolve().parent / "results"


def sweep_shape(dataset: str) -> tuple[str, int, int, int, int]:
    """(architecture, channels, side, batch per model, classes) of ``dataset``'s sweep preset."""
    config, info = resolve_config(dataset), dataset_info(dataset)
    return config.arch, info.in_channels, info.image_size, config.batch_size, info.num_classes


#: The shapes timed: the embedded sweep's and the paper's two sweeps'.
SHAPES = {dataset: sweep_shape(dataset) for dataset in ("digits", "cifar10", "tinyimagenet")}
#: Model-epochs x images of the paper's sweeps, and the shape each is timed at.
SWEEPS = {"cifar10": 13 * 20 * 200 * 45_000, "tinyimagenet": 15 * 20 * 90 * 90_000}
TARGET_CIFAR10_HOURS = 4.0


class Stack:
    """``count`` models of ``shape`` trained as one network, with a batch, an optimizer and their
    training step (compiled with ``compile_step``); its unit hooks stay on until ``hooks`` closes."""

    def __init__(self, shape: str, count: int, device: torch.device, contiguous: bool, compile_step: bool,
                 hooks: contextlib.ExitStack) -> None:
        arch, channels, side, batch, classes = SHAPES[shape]
        models = []
        for seed in range(count):
            torch.manual_seed(seed)
            models.append(build_model(arch, num_classes=classes, in_channels=channels, mean=[0.5] * channels,
                                      std=[0.25] * channels))
        model = StackedModels(models).to(device)
        self.model = model if contiguous else channels_last(model)
        self.count, self.batch, self.classes, self.device = count, batch, classes, device
        self.inputs = torch.rand(count * batch, channels, side, side, device=device)
        self.labels = torch.randint(0, classes, (count * batch,), device=device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        self.units = hooks.enter_context(UnitRecorder(self.model))
        # Static shapes: one graph per K (dynamo would otherwise turn the batch dimension symbolic
        # once a second K arrives, and time the larger K on a dynamic-shape graph).
        self.compute = torch.compile(training_step, dynamic=False) if compile_step else training_step
        self.times: list[float] = []
        self.peak_memory = 0.0

    def step(self) -> None:
        self.compute(self.model, self.optimizer, self.inputs, self.labels, [1.0] * self.count, self.classes, 1e-6,
                     self.units)

    def own_bytes(self) -> int:
        """What this stack keeps between steps: weights, buffers, momentum, its batch."""
        momentum = [state["momentum_buffer"] for state in self.optimizer.state.values() if "momentum_buffer" in state]
        tensors = [*self.model.parameters(), *self.model.buffers(), *momentum, self.inputs, self.labels]
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)

    def timed_step(self) -> None:
        if self.device.type == "cuda":  # the other stacks stay allocated: count what this step adds to them
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device)
        self.times.append(timed(self.step, self.device)[0])
        if self.device.type == "cuda":
            added = torch.cuda.max_memory_allocated(self.device) - before
            self.peak_memory = max(self.peak_memory, (added + self.own_bytes()) / 2**30)

    def result(self) -> dict[str, Any]:
        seconds = statistics.median(self.times)
        row: dict[str, Any] = {"models": self.count, "seconds_per_step": seconds,
                               "model_images_per_second": self.count * self.batch / seconds}
        if self.device.type == "cuda":
            row["peak_memory_gib"] = self.peak_memory
        return row


def time_stacks(shape: str, counts: list[int], device: torch.device, steps: int, contiguous: bool,
                compile_step: bool) -> list[dict[str, Any]]:
    """Median seconds per step of each count of models trained as one, and models x images per
    second. The counts take turns, step after step, so that a burst of load on a shared machine
    slows all of them alike rather than whichever ran at the time."""
    if compile_step:
        # Each count is compiled once or twice (optimizer state absent, then present): room for
        # all of them, where dynamo's default limit would leave the last ones uncompiled.
        torch._dynamo.reset()
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 4 * len(counts))
    with contextlib.ExitStack() as hooks:
        stacks = [Stack(shape, count, device, contiguous, compile_step, hooks) for count in counts]
        for stack in stacks:
            for _ in range(3 if compile_step else 1):
                stack.step()
        for _ in range(steps):
            for stack in stacks:
                stack.timed_step()
    return [stack.result() for stack in stacks]


def time_sweep(together: bool, workers: int) -> float:
    """Seconds to train the default digits grid from nothing, one way."""
    with tempfile.TemporaryDirectory() as runs:
        seconds, _ = timed(lambda: run_sweep(sweep_configs("digits"), runs_root=runs, device="cpu", workers=workers,
                                             together=together, progress=False), torch.device("cpu"))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=None,
                        help="default: digits and cifar10 on the CPU, all three on CUDA")
    parser.add_argument("--counts", nargs="+", type=int, default=None,
                        help="models per stack; default 1 2 4 8 on the CPU (1 4 at 32x32), 1 8 16 32 on CUDA "
                             "(for tinyimagenet's batch of 4096: 1 on the CPU, 1 2 on CUDA)")
    parser.add_argument("--steps", type=positive_int, default=15, help="timed steps per count (default 15)")
    parser.add_argument("--repeats", type=positive_int, default=2, help="--sweep's timings of each way (default 2)")
    parser.add_argument("--contiguous", action="store_true", help="the default memory layout, not channels-last")
    parser.add_argument("--compile", action="store_true", help="torch.compile the training step")
    parser.add_argument("--sweep", action="store_true", help="also time the digits sweep end to end, both ways")
    args = parser.parse_args()
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    else:
        limit_threads(1)
    before = os.getloadavg()
    shapes = args.shapes or (sorted(SHAPES) if cuda else ["digits", "cifar10"])
    results: dict[str, Any] = {}
    for shape in shapes:
        side, batch = SHAPES[shape][2:4]
        counts = args.counts or (([1, 2] if batch > 256 else [1, 8, 16, 32]) if cuda
                                 else [1] if batch > 256 else [1, 4] if side >= 32 else [1, 2, 4, 8])
        rows = time_stacks(shape, counts, device, args.steps, args.contiguous, args.compile)
        alone = rows[0]["model_images_per_second"] if rows[0]["models"] == 1 else None
        for row in rows:
            if alone:
                row["speedup_over_one_model"] = row["model_images_per_second"] / alone
        results[shape] = rows
        print(shape, json.dumps(rows))
    report: dict[str, Any] = {
        "benchmark": "sweep_throughput",
        "device": device_description(device),
        "torch_version": torch.__version__,
        "mixed_precision": "bf16 autocast" if cuda else "none (fp32)",
        "channels_last": not args.contiguous,
        "compiled": args.compile,
        "threads_per_process": torch.get_num_threads(),
        "shapes": {name: dict(zip(("arch", "channels", "side", "batch_per_model", "classes"), SHAPES[name]))
                   for name in shapes},
        "results": results,
    }
    if cuda:
        projections = {}
        for name, images in SWEEPS.items():
            limit = stack_size(resolve_config(name), MAX_TOGETHER)
            stackable = [row for row in results.get(name, []) if row["models"] <= limit]
            if stackable:
                best = max(stackable, key=lambda row: row["model_images_per_second"])
                projections[name] = {"models_per_stack": best["models"], "sweep_stack_limit": limit,
                                     "gpu_hours": images / best["model_images_per_second"] / 3600,
                                     "peak_memory_gib": best["peak_memory_gib"]}
        report["projected_sweeps"] = projections
        if "cifar10" in projections:
            report["cifar10_target_hours_at_most"] = TARGET_CIFAR10_HOURS
            report["meets_cifar10_target"] = projections["cifar10"]["gpu_hours"] <= TARGET_CIFAR10_HOURS
    if args.sweep:
        workers = os.cpu_count() or 1
        times: dict[bool, list[float]] = {False: [], True: []}
        for repeat in range(args.repeats):  # ABBA...: a drift in the machine's load favours neither way
            for together in (False, True) if repeat % 2 == 0 else (True, False):
                times[together].append(time_sweep(together, workers))
        separate, together = statistics.median(times[False]), statistics.median(times[True])
        report["digits_sweep"] = {"runs": len(sweep_configs("digits")), "workers": workers, "separate_seconds": separate,
                                  "together_seconds": together, "speedup": separate / together,
                                  "all_separate_seconds": times[False], "all_together_seconds": times[True]}
    report.update(load_report(before, os.cpu_count() or 1))
    path = RESULTS / f"sweep_throughput_{device.type}.json"
    write_json(path, report)
    print(json.dumps(report, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
