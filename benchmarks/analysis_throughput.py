"""Speed of the mechanism analyses: TwoNN against scikit-dimension, and input-unit gradients
batched against one-at-a-time loops.

    python benchmarks/analysis_throughput.py [--device cpu|cuda] [--points 10000] [--images 1000]

* TwoNN on ``--points`` points of a curved 8-dimensional manifold (tanh of a random linear map of
  Gaussian latents) embedded in 64 and in 4096 dimensions: :func:`selrob.measures.intrinsic_dimension.two_nn_dimension`
  on ``--device`` against ``skdim.id.TwoNN`` (CPU only), with both estimates. Target: at least
  10x faster on the CPU at the same estimate.
* Input-unit gradients of all 688 units of a ResNet20 (3x32x32 inputs, eval mode) on ``--images``
  images: selrob's default (:func:`selrob.measures.unit_gradients.input_unit_gradient_norms`,
  reverse mode), reverse mode with 32 units per batched pass (``is_grads_batched``), the
  per-unit loop (one backward pass of each unit's batch-sum), and the naive loop (one backward
  pass per sample and unit), the last timed on ``--naive-samples`` x ``--naive-units`` pairs and
  scaled to the whole job. Target: batched at least 10x faster than the loop.

Writes ``benchmarks/results/analysis_throughput_<device>.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selrob.measures.intrinsic_dimension import two_nn_dimension
from selrob.measures.unit_gradients import input_unit_gradient_norms
from selrob.measures.units import UnitRecorder
from selrob.device import device_description, resolve_device
from selrob.io import write_json
from selrob.models import build_model
from timing import timed

RESULTS = Path(__file__).resolve().parent / "results"


def manifold(points: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((points, 8))
    return np.tanh(latent @ rng.standard_normal((8, width)) / np.sqrt(8)).astype(np.float32)


def twonn_benchmark(points: int, device: torch.device, repeats: int) -> list[dict[str, Any]]:
    import skdim

    rows = []
    for width in (64, 4096):
        data = manifold(points, width)
        two_nn_dimension(data[:2000], device=device)  # warm-up (CUDA context, kernels)
        ours = [timed(lambda: two_nn_dimension(data, device=device), device) for _ in range(repeats)]
        seconds_skdim, theirs = timed(lambda: skdim.id.TwoNN(discard_fraction=0.1).fit(data).dimension_,
                                      torch.device("cpu"))
        seconds = float(np.median([s for s, _ in ours]))
        rows.append({"points": points, "width": width, "selrob_seconds": seconds, "selrob_estimate": ours[0][1],
                     "skdim_seconds": seconds_skdim, "skdim_estimate": float(theirs),
                     "speedup": seconds_skdim / seconds,
                     "relative_difference": abs(ours[0][1] - theirs) / theirs})
        print(f"TwoNN {points} x {width}: selrob {seconds:.2f} s (d = {ours[0][1]:.3f}), "
              f"skdim {seconds_skdim:.2f} s (d = {theirs:.3f}): {seconds_skdim / seconds:.1f}x", flush=True)
    return rows


def naive_seconds_per_gradient(model: torch.nn.Module, images: torch.Tensor, samples: int, units: int) -> float:
    """Seconds per (sample, unit) gradient when each is its own forward and backward pass."""
    started = time.perf_counter()
    for image in images[:samples]:
        for unit in range(units):
            x = image[None].clone().requires_grad_(True)
            with UnitRecorder(model) as recorder:
                model(x)
            layer = recorder.activations[unit % len(recorder.activations)]
            torch.autograd.grad(layer[0, unit % layer.shape[1]], x)[0].norm().item()
    return (time.perf_counter() - started) / (samples * units)


def unit_gradient_benchmark(images: int, device: torch.device, batch_size: int, naive: tuple[int, int]) -> dict[str, Any]:
    model = build_model("resnet20", num_classes=10, in_channels=3, mean=(0.49, 0.48, 0.45),
                        std=(0.25, 0.24, 0.26)).to(device).eval()
    data = torch.rand(images, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    input_unit_gradient_norms(model, data[:8], batch_size=8)  # warm-up
    modes = {
        "selrob_default": {"mode": "auto"},
        "reverse_32_units_per_pass": {"mode": "reverse", "units_per_pass": 32},
        "per_unit_loop": {"mode": "reverse", "units_per_pass": 1},
    }
    result: dict[str, Any] = {"images": images, "units": 688, "batch_size": batch_size}
    reference = None
    for name, options in modes.items():
        seconds, norms = timed(lambda o=options: input_unit_gradient_norms(model, data, batch_size=batch_size, **o), device)
        result[name] = {"seconds": seconds, "gradients_per_second": images * 688 / seconds}
        reference = norms if reference is None else reference
        result[name]["max_difference_to_default"] = max(float((a - b).abs().max()) for a, b in zip(norms, reference))
        print(f"unit gradients, {name}: {seconds:.2f} s", flush=True)
    per_gradient = naive_seconds_per_gradient(model, data, *naive)
    result["naive_loop_estimate"] = {"seconds": per_gradient * images * 688, "gradients_per_second": 1 / per_gradient,
                                     "timed_pairs": naive[0] * naive[1]}
    fastest = min(result[name]["seconds"] for name in modes)
    result["speedup_vs_per_unit_loop"] = result["per_unit_loop"]["seconds"] / fastest
    result["speedup_vs_naive_loop"] = result["naive_loop_estimate"]["seconds"] / fastest
    print(f"unit gradients: naive loop {result['naive_loop_estimate']['seconds']:.0f} s (estimated); fastest batched "
          f"{fastest:.2f} s: {result['speedup_vs_naive_loop']:.0f}x the naive loop, "
          f"{result['speedup_vs_per_unit_loop']:.2f}x the per-unit loop", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=None, help="unit-gradient batch; default 128 CPU, 1000 CUDA")
    parser.add_argument("--naive-samples", type=int, default=2)
    parser.add_argument("--naive-units", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", choices=["twonn", "gradients"], action="append", default=[])
    args = parser.parse_args()
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    report: dict[str, Any] = {"device": device_description(device), "torch": torch.__version__}
    if "twonn" not in args.skip:
        report["twonn"] = twonn_benchmark(args.points, device, args.repeats)
    if "gradients" not in args.skip:
        batch = args.batch_size or (1000 if device.type == "cuda" else 128)
        report["unit_gradients"] = unit_gradient_benchmark(args.images, device, batch, (args.naive_samples, args.naive_units))
    path = RESULTS / f"analysis_throughput_{device.type}.json"
    write_json(path, report)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
