"""Acceptance check of every CUDA path, for the first GPU selrob runs on (an H100 or H200).

    python benchmarks/gpu_check.py                      # on CUDA (budgeted at 8 minutes; not yet run)
    python benchmarks/gpu_check.py --device cpu --tiny  # the same steps small (CI)

Steps, each timed, with its peak memory (GPU: the most allocated during the step; CPU: the
process's peak resident set so far) and passed / refused / failed:

Refused: a one-line reason (an evaluation that does not apply to the dataset); empty: an
evaluation that found nothing to evaluate (a pairwise one among models without its pairs).

* ``stacked-training``: the sweep's training step (:func:`selrob.training.loop.training_step`,
  bf16 on CUDA) of K = 1, 8 and 16 ResNet20s on CIFAR-shaped data: model-images per second, peak
  memory, and the projected hours of the paper's CIFAR-10 sweep (260 runs x 200 epochs) at the
  fastest K (:mod:`sweep_throughput`); with ``--tiny``, K = 1 and 2 on digits-shaped data.
* ``train <dataset>``: one short run of each embedded study (a digits run; a shape-texture world
  standard / robust pair), then ``evaluate <dataset> <name>`` for every registered evaluation of
  both papers on them ("refused": a one-line reason, e.g. an ImageNet-only evaluation).
* ``zoo <arch>``: each zoo architecture with random weights at 224 px: forward pass, L2 PGD,
  Network Dissection and channel ablation of its dissected layers (with ``--tiny``, channel ablation
  of the first and last only) (:mod:`unit_semantics_throughput`).
* ``ddp``: ``selrob train-imagenet`` under ``torchrun`` (one process, NCCL) on a generated
  ImageFolder; not with ``--tiny``, where ``tests/test_data_parallel.py`` runs it with gloo.
* ``twonn`` and ``unit-gradients``: the analysis benchmarks (:mod:`analysis_throughput`).

Writes ``benchmarks/results/gpu_check_<device>.json`` (with ``--tiny``: ``outputs/gpu_check_<device>_tiny.json``,
never a committed result) and exits non-zero if any step failed. Nothing is downloaded: the -C sets
are generated without frost (its photographs come from PyPI).
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from selrob import __version__, paths
from selrob.device import device_description, resolve_device
from selrob.errors import SelrobError
from selrob.io import write_json

RESULTS = Path(__file__).resolve().parent / "results"


class EmptyTable(Exception):
    """An evaluation that ran but found nothing to evaluate (a pairwise one without its pairs)."""


class Steps:
    """Runs steps one after the other and records each; a failing step does not stop the others."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.rows = device, []  # type: ignore[var-annotated]

    def _peak_gib(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**30
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    def run(self, name: str, step: Callable[[], Any]) -> Any:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        started = time.perf_counter()
        result, status = None, "passed"
        try:
            result = step()
        except SelrobError as err:
            status, result = "refused", str(err)
        except EmptyTable as err:
            status, result = "empty", str(err)
        except Exception as err:  # noqa: BLE001 - any failure is the check's finding
            status, result = "failed", "".join(traceback.format_exception_only(err)).strip()
            traceback.print_exc()
        with contextlib.suppress(Exception):  # a CUDA error is the step's, recorded above
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - started
        self.rows.append({"step": name, "status": status, "seconds": round(seconds, 2),
                          "peak_memory_gib": round(self._peak_gib(), 3), "result": result})
        print(f"{name}: {status} in {seconds:.1f} s" + ("" if status == "passed" else f" ({result})"), flush=True)
        return result if status == "passed" else None


def stacked_training(device: torch.device, counts: list[int], steps: int, tiny: bool) -> dict[str, Any]:
    """With ``tiny``, the digits sweep's step (8 x 8 images: the code path, not CIFAR-10's projection)."""
    from sweep_throughput import SWEEPS, time_stacks

    shape = "digits" if tiny else "cifar10"
    rows = time_stacks(shape, counts, device, steps, contiguous=False, compile_step=False)
    fastest = max(rows, key=lambda row: row["model_images_per_second"])
    projected = None if tiny else SWEEPS["cifar10"] / fastest["model_images_per_second"] / 3600
    return {"shape": shape, "per_k": rows, "fastest_k": fastest["models"], "projected_cifar10_sweep_hours": projected}


def trained(steps: Steps, dataset: str, configs: list[Any], root: Path, device: torch.device,
            images: int | None) -> list[Any]:
    """Train ``configs`` (one step), then the runs as model sources evaluated on their first ``images``."""
    from selrob.pipeline.sweep import run_sweep
    from selrob.store.runs import Run
    from selrob.store.sources import first_test_images

    steps.run(f"train {dataset}", lambda: run_sweep(configs, runs_root=root, device=str(device), workers=1,
                                                    progress=False) and None)
    return [first_test_images(Run.for_config(config, root), images) for config in configs]


def evaluate_all(steps: Steps, dataset: str, targets: list[Any], sources: list[Any], settings: Any) -> None:
    """Every registered evaluation on ``targets`` (pairwise ones paired with ``sources``), one step each."""
    from selrob.evaluations.registry import registered_evaluations
    from selrob.tables.evaluations import evaluation_table

    def rows(name: str) -> dict[str, int]:
        table = evaluation_table(name, targets, settings, sources=sources, progress=False)
        if table.empty:
            raise EmptyTable(f"no rows: {name} finds nothing to evaluate among these {dataset} models")
        return {"rows": len(table)}

    for name in registered_evaluations():
        steps.run(f"evaluate {dataset} {name}", lambda name=name: rows(name))


def embedded_studies(steps: Steps, device: torch.device, tiny: bool, work: Path) -> None:
    from selrob.config import robust_pair_configs, sweep_configs
    from selrob.corruptions import CORRUPTIONS
    from selrob.corruptions.generate import make_corrupted_set
    from selrob.evaluations.corruptions import CorruptedSetChoice
    from selrob.evaluations.registry import EvaluationSettings

    data, runs = work / "data", work / "runs"
    corruptions = ["gaussian_noise", "contrast"] if tiny else [name for name in CORRUPTIONS if name != "frost"]
    settings = EvaluationSettings(smoke=True, data_root=str(data), device=str(device),
                                  parameters={"corrupted_set": CorruptedSetChoice(corruptions=corruptions),
                                              "unit_gradient_samples": 4 if tiny else 100})
    overrides = {"epochs": 1} if tiny else {}
    images = 50 if tiny else None  # test images per evaluation (None: a smoke run's 200)
    digits = trained(steps, "digits", sweep_configs("digits", None, (0.0, 1.0), (0,), smoke=True, **overrides), runs,
                     device, images)
    steps.run("make-c digits", lambda: make_corrupted_set("digits", data, corruptions, workers=1, progress=False).name)
    evaluate_all(steps, "digits", digits, [run for run in digits if run.identity["alpha"] == 0], settings)
    pair = trained(steps, "shapes", robust_pair_configs("shapes", seeds=0, smoke=True), runs, device, images)
    steps.run("make-c shapes", lambda: make_corrupted_set("shapes", data, corruptions, workers=1, progress=False).name)
    evaluate_all(steps, "shapes", pair, pair, settings)


def zoo_architecture(arch: str, device: torch.device, tiny: bool) -> dict[str, Any]:
    from unit_semantics_throughput import IMAGENET_MEAN, IMAGENET_STD, ablation_benchmark, dissection_benchmark, synthetic_probe

    from selrob.attacks.pgd_l2 import pgd_l2_attack
    from selrob.attacks.settings import IMAGENET_L2
    from selrob.data.batches import to_unit_float
    from selrob.models import NormalizedModel
    from selrob.zoo import build_network, dissected_layers

    side, count = (64, 2) if tiny else (224, 64)
    torch.manual_seed(0)
    model = NormalizedModel(build_network(arch), IMAGENET_MEAN, IMAGENET_STD).to(device).eval()
    images = torch.randint(0, 256, (count, 3, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    x, y = to_unit_float(images.to(device)), torch.randint(0, 1000, (count,), device=device)
    with torch.no_grad():
        logits = model(x)
    steps = 2 if tiny else IMAGENET_L2.steps
    adversarial = pgd_l2_attack(model, x, y, IMAGENET_L2.epsilon, IMAGENET_L2.step_size, steps,
                                amp=device.type == "cuda")
    moved = float((adversarial - x).flatten(1).norm(dim=1).max())
    layers = tuple(f"backbone.{name}" for name in dissected_layers(arch))
    probe = synthetic_probe(count, side, side // 2)
    ablated = layers[:1] + layers[-1:] if tiny else layers  # CI: the code path, not every channel (40 s)
    return {"image_size": side, "images": count, "logits": list(logits.shape),
            "l2_pgd": {"steps": steps, "largest_l2_move": moved, "within_budget": moved <= IMAGENET_L2.epsilon + 1e-3},
            "dissection": dissection_benchmark(model, layers, probe, device)["images_per_second"],
            "channel_ablation": ablation_benchmark(model, ablated, images, device)["total"]}


def imagenet_folder(root: Path, classes: int = 2, per_class: int = 4) -> Path:
    """A tiny ImageFolder (train/ and val/, random 64 px JPEGs) for the DDP step."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for k in range(classes):
            folder = root / split / f"n{k:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i}.JPEG")
    return root


def ddp(device: torch.device, work: Path) -> dict[str, Any]:
    folder = imagenet_folder(work / "imagenet")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
               "-m", "selrob", "train-imagenet", "--arch", "resnet50", "--training", "robust",
               "--imagenet-dir", str(folder), "--out-dir", str(work / "ddp"), "--epochs", "1", "--batch-size", "4",
               "--workers", "0", "--runs-dir", str(work / "runs"), "--device", str(device)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"torchrun exited with {result.returncode}: {result.stderr.strip().splitlines()[-1:]}")
    return {"command": " ".join(command[2:]), "summary": (work / "ddp" / "summary.json").read_text()[:400]}


def analyses(device: torch.device, tiny: bool) -> tuple[Callable[[], Any], Callable[[], Any]]:
    from analysis_throughput import twonn_benchmark, unit_gradient_benchmark

    return (lambda: twonn_benchmark(500 if tiny else 10_000, device, 1),
            lambda: unit_gradient_benchmark(1 if tiny else 1000, device, 1 if tiny else 1000, (1, 1) if tiny else (2, 40)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--tiny", action="store_true", help="every step small (the CPU check CI runs)")
    parser.add_argument("--work", type=Path, help="folder for runs and data (default: a temporary one)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    started = time.perf_counter()
    steps = Steps(device)
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gpu_check.")))
        steps.run("stacked-training", lambda: stacked_training(device, [1, 2] if args.tiny else [1, 8, 16],
                                                              1 if args.tiny else 15, args.tiny))
        embedded_studies(steps, device, args.tiny, work)
        for arch in ("alexnet", "googlenet", "resnet50"):
            steps.run(f"zoo {arch}", lambda arch=arch: zoo_architecture(arch, device, args.tiny))
        if not args.tiny:  # on the CPU, tests/test_data_parallel.py runs the same command under torchrun
            steps.run("ddp", lambda: ddp(device, work))
        twonn, gradients = analyses(device, args.tiny)
        steps.run("twonn", twonn)
        steps.run("unit-gradients", gradients)
    failed = [row["step"] for row in steps.rows if row["status"] == "failed"]
    report = {"benchmark": "gpu_check", "device": device_description(device), "tiny": args.tiny,
              "selrob": __version__, "torch_version": torch.__version__, "cuda": torch.version.cuda,
              "python": platform.python_version(), "seconds": round(time.perf_counter() - started, 1),
              "passed": sum(row["status"] == "passed" for row in steps.rows),
              "refused": sum(row["status"] == "refused" for row in steps.rows),
              "empty": sum(row["status"] == "empty" for row in steps.rows), "failed": failed, "steps": steps.rows}
    out = paths.outputs_dir() / f"gpu_check_{device.type}_tiny.json" if args.tiny else RESULTS / f"gpu_check_{device.type}.json"
    write_json(out, report)
    print(f"{out}: {report['passed']} passed, {report['refused']} refused, {report['empty']} empty, {len(failed)} failed "
          f"in {report['seconds']:.0f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
