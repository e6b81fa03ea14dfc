"""The ``selrob`` command line: train, sweep, reproduce, results, data.

Errors in the user's input or files print one line (``selrob: error: ...``) and exit 2; an
interrupted command keeps every finished epoch and run, and the same command resumes it.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from selrob.errors import SelrobError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"selrob: error: {message}\n")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _seeds(text: str) -> list[int]:
    """``3`` or a range ``0-19`` of non-negative integers."""
    first, _, last = text.partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed (a non-negative integer or a range like 0-19)")
    return list(range(int(first), int(last or first) + 1))


def _path(text: str) -> Path:
    return Path(text).expanduser().resolve()


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=_path, help="runs folder (default: $SELROB_RUNS or <repo>/runs)")
    parser.add_argument("--data-dir", type=_path, help="datasets folder (default: $SELROB_DATA or <repo>/data)")
    parser.add_argument("--device", help="auto (default), cpu or cuda[:N]")


def _add_training(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="digits", help="digits (default), cifar10 or tinyimagenet")
    parser.add_argument("--arch", help="resnet20, resnet18 or resnet50 (default: the paper's for the dataset)")
    parser.add_argument("--smoke", action="store_true", help="tiny runs (2 epochs, 256 images) for checks")
    group = parser.add_argument_group("overrides of the preset (see selrob.config)")
    group.add_argument("--epochs", type=int)
    group.add_argument("--batch-size", type=int)
    group.add_argument("--lr", type=_number)
    group.add_argument("--milestones", type=int, nargs="+")
    group.add_argument("--val-per-class", type=int)
    group.add_argument("--max-train-samples", type=int)
    group.add_argument("--max-eval-samples", type=int)
    group.add_argument("--augmix", action="store_true", help="train with AugMix + JSD loss (appendix A.4; alpha 0)")
    group.add_argument("--pgd-steps", type=int, help="PGD training with this many steps (appendix A.7)")
    _add_common(parser)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = ("epochs", "batch_size", "lr", "milestones", "val_per_class", "max_train_samples", "max_eval_samples",
             "pgd_steps")
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.augmix:
        overrides["augmix"] = True
    return overrides


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to document the CLI)."""
    parser = _Parser(prog="selrob", description="Class selectivity and robustness: training and analysis.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train one run (resumes if interrupted)")
    _add_training(train)
    train.add_argument("--alpha", type=_number, default=0.0, help="regularization scale (default 0)")
    train.add_argument("--seed", type=int, default=0)

    sweep = commands.add_parser("sweep", help="train an alpha x seed grid locally or on Slurm")
    _add_training(sweep)
    sweep.add_argument("--alpha", type=_number, nargs="+", help="alphas (default: the preset's grid)")
    sweep.add_argument("--seeds", type=_seeds, nargs="+", help="seeds or ranges like 0-19 (default: the preset's)")
    sweep.add_argument("--executor", default="local", help="local (default), submitit-local or slurm")
    sweep.add_argument("--workers", type=int, help="local worker processes (default: one per core on CPU)")
    sweep.add_argument("--slurm-partition")
    sweep.add_argument("--slurm-timeout-min", type=int, default=24 * 60)
    sweep.add_argument("--gpus-per-node", type=int, default=1)
    sweep.add_argument("--cpus-per-task", type=int, default=8)
    sweep.add_argument("--no-wait", action="store_true", help="submit to Slurm and return")

    evaluate_c = commands.add_parser("evaluate-c", help="accuracy of a sweep's runs on every corruption x severity (cached)")
    _add_training(evaluate_c)
    evaluate_c.add_argument("--alpha", type=_number, nargs="+", help="alphas (default: the preset's grid)")
    evaluate_c.add_argument("--seeds", type=_seeds, nargs="+", help="seeds or ranges like 0-19 (default: the preset's)")
    evaluate_c.add_argument("--source", default="generated", help="generated (default; selrob data make-c) or official")
    evaluate_c.add_argument("--corruptions", nargs="+", help="a subset (default: every corruption in the set)")

    reproduce = commands.add_parser(
        "reproduce", help="default digits sweep (+ AugMix and PGD-trained runs), digits-C, evaluations, then every notebook and figure")
    reproduce.add_argument("--smoke", action="store_true", help="the tiny smoke sweep instead")
    reproduce.add_argument("--workers", type=int)
    reproduce.add_argument("--figures-dir", type=_path)
    reproduce.add_argument("--outputs-dir", type=_path)
    _add_common(reproduce)

    results = commands.add_parser("results", help="print mean accuracy and selectivity per alpha")
    results.add_argument("--dataset")
    results.add_argument("--arch")
    results.add_argument("--runs-dir", type=_path)

    data = commands.add_parser("data", help="dataset tools")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    download = data_commands.add_parser("download", help="download and verify a dataset")
    download.add_argument("dataset", help="cifar10, tinyimagenet or imagenet-a (test-only, appendix A.6)")
    download.add_argument("--data-dir", type=_path)
    download_c = data_commands.add_parser("download-c", help="download and verify an official corrupted test set")
    download_c.add_argument("dataset", help="cifar10 (CIFAR-10-C) or tinyimagenet (Tiny-ImageNet-C)")
    download_c.add_argument("--data-dir", type=_path)
    make_c = data_commands.add_parser("make-c", help="generate a corrupted test set in the official format (resumes)")
    make_c.add_argument("--dataset", default="digits", help="digits (default), cifar10 or tinyimagenet")
    make_c.add_argument("--corruptions", nargs="+", help="a subset (default: all 19)")
    make_c.add_argument("--seed", type=int, default=0)
    make_c.add_argument("--workers", type=int, help="processes (default: one per core)")
    make_c.add_argument("--data-dir", type=_path)
    return parser


def _cmd_train(args: argparse.Namespace) -> None:
    from selrob.config import resolve_config
    from selrob.training import train_run

    config = resolve_config(args.dataset, args.arch, args.alpha, args.seed, args.smoke, **_overrides(args))
    run = train_run(config, args.runs_dir, args.data_dir, args.device)
    summary = run.summary()
    print(f"{run.path}: test accuracy {summary['test_accuracy']:.4f}, mean selectivity {summary['mean_selectivity']:.4f}")


def _cmd_sweep(args: argparse.Namespace) -> None:
    from selrob.sweep import SlurmOptions, run_sweep, sweep_configs

    seeds = None if args.seeds is None else [s for group in args.seeds for s in group]
    configs = sweep_configs(args.dataset, args.arch, args.alpha, seeds, args.smoke, **_overrides(args))
    slurm = SlurmOptions(args.slurm_partition, args.slurm_timeout_min, args.gpus_per_node, args.cpus_per_task)
    runs = run_sweep(configs, executor=args.executor, workers=args.workers, runs_root=args.runs_dir,
                     data_root=args.data_dir, device=args.device, slurm=slurm, wait=not args.no_wait)
    print(f"{sum(r.is_finished() for r in runs)} of {len(runs)} runs finished under {runs[0].path.parents[2]}")


def _variant(runs: Any) -> str:
    """How one protocol's runs were trained, beyond the preset."""
    if "augmix" in runs and runs["augmix"].fillna(False).astype(bool).any():
        return " with AugMix"
    if "pgd_steps" in runs and runs["pgd_steps"].notna().any():
        return f" with PGD training ({int(runs['pgd_steps'].iloc[0])} steps)"
    return ""


def _print_results(runs_dir: Path | None, dataset: str | None, arch: str | None) -> None:
    from selrob.results import load_results
    from selrob.stats import summarize

    frame = load_results(runs_dir, dataset=dataset, arch=arch)
    if frame.empty:
        print("no finished runs")
        return
    for (name, model, protocol), part in frame.groupby(["dataset", "arch", "protocol"]):
        print(f"{name} / {model}{_variant(part)} (protocol {protocol}, {len(part)} runs)")
        table = summarize(part, "alpha", ["test_accuracy", "mean_selectivity"])
        print(f"  {'alpha':>6} {'n':>3} {'test accuracy [95% CI]':>28} {'mean selectivity [95% CI]':>30}")
        for _, row in table.iterrows():
            print(f"  {row['alpha']:>6g} {int(row['n']):>3}"
                  f" {row['test_accuracy']:>8.4f} [{row['test_accuracy_ci_low']:.4f}, {row['test_accuracy_ci_high']:.4f}]"
                  f" {row['mean_selectivity']:>10.4f} [{row['mean_selectivity_ci_low']:.4f}, {row['mean_selectivity_ci_high']:.4f}]")


def _cmd_reproduce(args: argparse.Namespace) -> None:
    from tqdm.auto import tqdm

    from selrob import paths
    from selrob.corruptions.generate import make_corrupted_set
    from selrob.evaluation_stage import evaluate_plan, reproduce_plan
    from selrob.notebooks import execute_notebook, notebook_paths
    from selrob.parallel import job_errors
    from selrob.sweep import reproduce_configs, run_sweep

    runs = run_sweep(reproduce_configs("digits", smoke=args.smoke), workers=args.workers, runs_root=args.runs_dir,
                     data_root=args.data_dir, device=args.device)
    make_corrupted_set("digits", args.data_dir, workers=args.workers)
    evaluate_plan(reproduce_plan("digits", args.smoke, args.runs_dir), args.data_dir, args.device, args.workers)
    runs_dir = paths.runs_dir(args.runs_dir)
    figures_dir = paths.figures_dir(args.figures_dir)
    outputs = paths.outputs_dir(args.outputs_dir) / ("notebooks-smoke" if args.smoke else "notebooks")
    parameters = {"dataset": "digits", "smoke": args.smoke, "runs_dir": str(runs_dir), "figures_dir": str(figures_dir),
                  "data_dir": str(paths.data_dir(args.data_dir))}
    # Every cache is filled by now: notebooks only read and plot, two at a time on two cores.
    notebooks = notebook_paths()
    jobs = [(notebook, outputs, parameters) for notebook in notebooks]
    failures = [str(error) for _, error in tqdm(job_errors(execute_notebook, jobs, min(2, len(jobs))),
                                                total=len(jobs), desc="notebooks", unit="notebook") if error]
    if failures:
        raise SelrobError("; ".join(failures))
    print(f"{len(runs)} runs in {runs_dir}\nexecuted notebooks in {outputs}\nfigures in {figures_dir}")
    _print_results(args.runs_dir, "digits", None)


def _cmd_evaluate_c(args: argparse.Namespace) -> None:
    from selrob.results import corruption_means, load_corruption_results, load_sweep
    from selrob.stats import summarize

    seeds = None if args.seeds is None else [s for group in args.seeds for s in group]
    sweep = load_sweep(args.dataset, args.arch, args.alpha, seeds, args.smoke, args.runs_dir, **_overrides(args))
    table = load_corruption_results(sweep.runs, args.source, args.corruptions, args.data_dir, device=args.device)
    summary = summarize(corruption_means(table), "alpha", ["mean_corrupted_accuracy", "clean_accuracy"])
    print(f"{args.dataset}: {table['corruption'].nunique()} corruptions x 5 severities, {len(sweep.runs)} runs")
    print(f"  {'alpha':>6} {'n':>3} {'corrupted accuracy [95% CI]':>30} {'clean accuracy':>15}")
    for _, row in summary.iterrows():
        print(f"  {row['alpha']:>6g} {int(row['n']):>3} {row['mean_corrupted_accuracy']:>10.4f}"
              f" [{row['mean_corrupted_accuracy_ci_low']:.4f}, {row['mean_corrupted_accuracy_ci_high']:.4f}]"
              f" {row['clean_accuracy']:>15.4f}")


def _cmd_results(args: argparse.Namespace) -> None:
    _print_results(args.runs_dir, args.dataset, args.arch)


def _cmd_data(args: argparse.Namespace) -> None:
    if args.data_command == "download":
        from selrob.data import download_dataset

        print(download_dataset(args.dataset, args.data_dir))
    elif args.data_command == "download-c":
        from selrob.data.corrupted import download_corrupted

        print(download_corrupted(args.dataset, args.data_dir))
    else:
        from selrob.corruptions.generate import make_corrupted_set

        print(make_corrupted_set(args.dataset, args.data_dir, args.corruptions, args.seed, args.workers))


COMMANDS = {"train": _cmd_train, "sweep": _cmd_sweep, "evaluate-c": _cmd_evaluate_c, "reproduce": _cmd_reproduce,
            "results": _cmd_results, "data": _cmd_data}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``selrob`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except SelrobError as err:
        print(f"selrob: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("selrob: interrupted; finished epochs and runs are saved, run the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
