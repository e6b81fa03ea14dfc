"""PGD-40 throughput: selrob's one-pass attack with all 41 per-step accuracies against torchattacks.

    python benchmarks/attack_throughput.py [--device cpu|cuda] [--batch-size 128] [--repeats 3]

ResNet20 on CIFAR-sized inputs (3x32x32, normalisation inside the model, eval mode) with the
paper's PGD (step 1e-4, budget 16/255, 40 steps, no random start). Modes, interleaved per repeat:

* ``torchattacks``: ``torchattacks.PGD`` alone (the adversarial images, no accuracy at all);
* ``torchattacks_plus_final_accuracy``: the same plus one forward pass for the step-40 accuracy;
* ``selrob``: :func:`selrob.attacks.pgd_attack`, which also records the accuracy after every
  step 0..40 (torchattacks would need 40 attacks of 1..40 steps for that curve: 820 steps
  instead of 40, reported as ``torchattacks_curve_estimate``);
* ``selrob_bf16`` (CUDA only): the same with bf16 autocast (``amp=True``).

Target: ``selrob`` at least as fast as ``torchattacks`` (images/s). Writes
``benchmarks/results/attack_throughput_<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path

import torch

from selrob.attacks import pgd_attack
from selrob.device import device_description, resolve_device
from selrob.io import write_json
from timing import timed
from selrob.models import build_model

RESULTS = Path(__file__).resolve().parent / "results"
EPSILON, STEP_SIZE, STEPS = 16 / 255, 1e-4, 40


def main() -> None:
    import torchattacks

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 128 on CPU, 1000 on CUDA")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = resolve_device(args.device)
    batch = args.batch_size or (1000 if device.type == "cuda" else 128)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10, in_channels=3, mean=(0.49, 0.48, 0.45),
                        std=(0.25, 0.24, 0.26)).to(device).eval()
    images = torch.rand(batch, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (batch,), device=device)
    peer = torchattacks.PGD(model, eps=EPSILON, alpha=STEP_SIZE, steps=STEPS, random_start=False)

    def peer_with_accuracy() -> None:
        adversarial = peer(images, labels)
        with torch.no_grad():
            (model(adversarial).argmax(1) == labels).float().mean().item()

    modes: dict[str, Callable[[], object]] = {
        "torchattacks": lambda: peer(images, labels),
        "torchattacks_plus_final_accuracy": peer_with_accuracy,
        "selrob": lambda: pgd_attack(model, images, labels, EPSILON, STEP_SIZE, STEPS).correct.float().mean(1).cpu(),
    }
    if device.type == "cuda":
        modes["selrob_bf16"] = lambda: pgd_attack(model, images, labels, EPSILON, STEP_SIZE, STEPS,
                                                  amp=True).correct.float().mean(1).cpu()
    for fn in modes.values():  # warm-up (cuDNN autotuning, allocator)
        fn()
    samples: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.repeats):  # interleaved so drifts in machine load hit every mode alike
        for name, fn in modes.items():
            samples[name].append(timed(fn, device)[0])
    results = {name: {"seconds_per_batch": statistics.median(times), "images_per_second": batch / statistics.median(times),
                      "repeats": times} for name, times in samples.items()}
    ratio = results["torchattacks"]["seconds_per_batch"] / results["selrob"]["seconds_per_batch"]
    report = {
        "benchmark": "attack_throughput",
        "model": "resnet20 (random weights, eval mode)",
        "input": [3, 32, 32],
        "attack": {"epsilon": EPSILON, "step_size": STEP_SIZE, "steps": STEPS, "random_start": False},
        "batch_size": batch,
        "device": device_description(device),
        "torch_version": torch.__version__,
        "torchattacks_version": torchattacks.__version__,
        "results": results,
        "torchattacks_curve_estimate": {
            "note": "41 accuracies with torchattacks: attacks of 1..40 steps (820 steps), from the PGD-40 time",
            "images_per_second": results["torchattacks"]["images_per_second"] * STEPS / sum(range(1, STEPS + 1)),
        },
        "selrob_speed_vs_torchattacks": ratio,
        "target": "selrob (with 41 per-step accuracies) at least as fast as torchattacks PGD-40",
        "meets_target": ratio >= 1.0,
    }
    path = RESULTS / f"attack_throughput_{device.type}.json"
    write_json(path, report)
    print(json.dumps(report, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
