"""The ``selrob`` command line (parsing only): train, sweep, train-imagenet, evaluate, reproduce, claims, results,
data, zoo.

Errors in the user's input or files print one line (``selrob: error: ...``) and exit 2; an
interrupted command keeps every finished epoch and run, and the same command resumes it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from selrob import __version__
from selrob.arguments import add_training_overrides, device, number, path, positive_int, seeds, training_overrides
from selrob.data.cue_conflict_stimuli import DEFAULT_PREPROCESSING, PREPROCESSING
from selrob.errors import SelrobError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"selrob: error: {message}\n")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=path, help="runs folder (default: $SELROB_RUNS or <repo>/runs)")
    parser.add_argument("--data-dir", type=path, help="datasets folder (default: $SELROB_DATA or <repo>/data)")
    parser.add_argument("--device", type=device, help="auto (default), cpu or cuda[:N]")


def _add_training(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="digits", help="digits (default), cifar10, tinyimagenet or shapes (the second paper's embedded world)")
    parser.add_argument("--arch", help="resnet20, resnet18, resnet50 or alexnet_small (default: the paper's for the dataset)")
    parser.add_argument("--smoke", action="store_true", help="tiny runs (2 epochs, 256 images) for checks")
    add_training_overrides(parser.add_argument_group("overrides of the preset (see selrob.config)"))
    _add_common(parser)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to document the CLI)."""
    from selrob.studies import studies

    known = studies()
    studies_named = ", ".join(known)
    datasets_named = "; ".join(f"{study.name}: {', '.join(study.datasets)}" for study in known.values())
    parser = _Parser(prog="selrob", description="Class selectivity and robustness: training and analysis.")
    parser.add_argument("--version", action="version", version=f"selrob {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    train = commands.add_parser("train", help="train one run (resumes if interrupted)")
    _add_training(train)
    train.add_argument("--alpha", type=number, default=0.0, help="regularization scale (default 0)")
    train.add_argument("--seed", type=int, default=0)

    sweep = commands.add_parser("sweep", help="train an alpha x seed grid locally or on Slurm")
    _add_training(sweep)
    sweep.add_argument("--alpha", type=number, nargs="+", help="alphas (default: the preset's grid)")
    sweep.add_argument("--seeds", type=seeds, nargs="+", help="seeds or ranges like 0-19 (default: the preset's)")
    sweep.add_argument("--executor", default="local", help="local (default), submitit-local or slurm")
    sweep.add_argument("--workers", type=positive_int, help="local worker processes (default: one per core on CPU)")
    sweep.add_argument("--slurm-partition")
    sweep.add_argument("--slurm-timeout-min", type=int, default=24 * 60)
    sweep.add_argument("--gpus-per-node", type=int, default=1)
    sweep.add_argument("--cpus-per-task", type=int, default=8)
    sweep.add_argument("--no-wait", action="store_true", help="submit to Slurm and return")
    stacking = sweep.add_mutually_exclusive_group()
    stacking.add_argument("--together", action="store_const", const=True, dest="together",
                          help="train runs of one protocol together as one network (default where faster: "
                               "on a GPU, and on the CPU for images of at most 16 pixels); on the CPU split "
                               "between worker processes as long as each network keeps two runs or more")
    stacking.add_argument("--separate", action="store_const", const=False, dest="together",
                          help="train every run on its own")
    sweep.add_argument("--max-together", type=positive_int, help="most runs trained as one network (default 16; fewer "
                       "where their batches would exceed 16 CIFAR-10 batches' pixels)")

    imagenet = commands.add_parser(
        "train-imagenet", help="train a standard or robust ImageNet model (the paper's protocol; torchrun, Slurm)")
    imagenet.add_argument("--arch", required=True, choices=("alexnet", "googlenet", "resnet50"))
    imagenet.add_argument("--training", default="robust", choices=("standard", "robust"),
                          help="robust (default): L2 PGD eps 3, step 0.5, 7 steps; standard: no attack")
    imagenet.add_argument("--imagenet-dir", type=path, help="folder with train/ and val/ in ImageFolder layout "
                                                            "(default: <data>/imagenet)")
    imagenet.add_argument("--out-dir", type=path, help="checkpoints and logs (default: <runs>/imagenet/ARCH-TRAINING-seedN)")
    imagenet.add_argument("--epochs", type=positive_int, default=90, help="default 90")
    imagenet.add_argument("--batch-size", type=positive_int, default=256,
                          help="global batch, split between processes (default 256)")
    imagenet.add_argument("--lr", type=number, default=0.1, help="initial learning rate, x0.1 every 30 epochs "
                                                                 "(default 0.1)")
    imagenet.add_argument("--seed", type=int, default=0, help="default 0")
    imagenet.add_argument("--workers", type=int, default=8, help="decoding processes per GPU (default 8)")
    imagenet.add_argument("--register", help="zoo model the weights become (default: the paper's pair member)")
    imagenet.add_argument("--slurm", action="store_true", help="submit to Slurm through submitit instead of running here")
    imagenet.add_argument("--nodes", type=int, default=1)
    imagenet.add_argument("--gpus-per-node", type=int, default=8)
    imagenet.add_argument("--slurm-partition")
    imagenet.add_argument("--slurm-timeout-min", type=int, default=72 * 60)
    _add_common(imagenet)

    evaluate = commands.add_parser("evaluate", help="run one registered evaluation on a sweep's runs (cached)")
    evaluate.add_argument("name", help="the evaluation (selrob evaluate --list names them)", nargs="?")
    evaluate.add_argument("--list", action="store_true", help="list the registered evaluations and exit")
    _add_training(evaluate)
    evaluate.add_argument("--alpha", type=number, nargs="+", help="alphas (default: the preset's grid)")
    evaluate.add_argument("--seeds", type=seeds, nargs="+", help="seeds or ranges like 0-19 (default: the preset's)")
    evaluate.add_argument("--source", help="-C set: generated (default; selrob data make-c) or official "
                          "(the default for ImageNet-C, which is official only)")
    evaluate.add_argument("--corruptions", nargs="+", help="a subset of the -C set (default: every corruption in it)")
    evaluate.add_argument("--samples", type=int, help="unit gradients on the first N test images (default: all)")
    evaluate.add_argument("--output", type=path, help="also write the whole table to this CSV file")
    evaluate.add_argument("--zoo", nargs="+", metavar="MODEL",
                          help="evaluate these ImageNet zoo models (selrob zoo list) instead of a sweep's runs")
    evaluate.add_argument("--cue-conflict-preprocessing", default=DEFAULT_PREPROCESSING, choices=tuple(PREPROCESSING),
                          help="how Geirhos et al.'s stimuli reach ImageNet models: resize-crop (default, the paper's "
                               "code) or as-is (model-vs-human)")

    reproduce = commands.add_parser(
        "reproduce", help="train each study's models, make its data, fill its caches, then run its notebooks and figures")
    reproduce.add_argument("--study", default="all", help=f"all (default) or one study: {studies_named}")
    reproduce.add_argument("--smoke", action="store_true", help="the tiny smoke version of every study")
    reproduce.add_argument("--workers", type=int)
    reproduce.add_argument("--figures-dir", type=path)
    reproduce.add_argument("--outputs-dir", type=path)
    _add_common(reproduce)

    claims = commands.add_parser("claims", help="test each claim of a study on its cached results: effect, 95%% CI, verdict")
    claims.add_argument("--study", default="all", help=f"all (default) or one study: {studies_named}")
    claims.add_argument("--dataset", help="the dataset of the runs (default: each study's embedded one); without "
                        f"--study, the studies that have claims on it ({datasets_named})")
    claims.add_argument("--smoke", action="store_true", help="the smoke sweep")
    claims.add_argument("--runs-dir", type=path)
    claims.add_argument("--data-dir", type=path)
    claims.add_argument("--csv", type=path, help="also write the table to this CSV file")

    results = commands.add_parser("results", help="print mean accuracy and selectivity per alpha")
    results.add_argument("--dataset")
    results.add_argument("--arch")
    results.add_argument("--runs-dir", type=path)

    data = commands.add_parser("data", help="dataset tools")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser,
                                        metavar="{download,download-c,make-c}")
    download = data_commands.add_parser("download", help="download and verify a dataset")
    download.add_argument("dataset", help="cifar10, tinyimagenet, imagenet-a (test-only, appendix A.6), stylized-16 "
                          "(model-vs-human's 16-class stylized images, Table 3e of the second paper), broden (Network "
                          "Dissection's probe set, broden1_224), cue-conflict "
                          "(Geirhos et al.'s stimuli, checked file by file) or imagenet (your own archives, verified)")
    download.add_argument("--data-dir", type=path)
    download_c = data_commands.add_parser("download-c", help="download and verify an official corrupted test set")
    download_c.add_argument("dataset", help="cifar10 (CIFAR-10-C), tinyimagenet (Tiny-ImageNet-C) or imagenet (ImageNet-C)")
    download_c.add_argument("--data-dir", type=path)
    make_c = data_commands.add_parser("make-c", help="generate a corrupted test set in the official format (resumes)")
    make_c.add_argument("--dataset", default="digits", help="digits (default), cifar10, tinyimagenet or shapes (the "
                        "second paper's embedded world)")
    make_c.add_argument("--corruptions", nargs="+", help="a subset (default: all 19)")
    make_c.add_argument("--seed", type=int, default=0)
    make_c.add_argument("--workers", type=int, help="processes (default: one per core)")
    make_c.add_argument("--data-dir", type=path)

    zoo = commands.add_parser("zoo", help="the second paper's ImageNet models (standard / robust pairs)")
    zoo_commands = zoo.add_subparsers(dest="zoo_command", required=True, parser_class=_Parser,
                                      metavar="{list,download,import}")
    zoo_list = zoo_commands.add_parser("list", help="each model: arch, training, status, published top-1")
    zoo_list.add_argument("--runs-dir", type=path)
    zoo_download = zoo_commands.add_parser("download", help="download, verify and convert a model (or all)")
    zoo_download.add_argument("name", help="a model of `selrob zoo list`, or all")
    zoo_download.add_argument("--runs-dir", type=path)
    zoo_download.add_argument("--data-dir", type=path)
    zoo_import = zoo_commands.add_parser("import", help="verify and convert a local checkpoint (AlexNet-R, GoogLeNet-R, any model)")
    zoo_import.add_argument("name", help="a model of `selrob zoo list`")
    zoo_import.add_argument("path", type=path, help="the checkpoint file")
    zoo_import.add_argument("--runs-dir", type=path)
    return parser


def _cmd_train(args: argparse.Namespace) -> None:
    from selrob.config import resolve_config
    from selrob.training import train_run

    config = resolve_config(args.dataset, args.arch, args.alpha, args.seed, args.smoke, **training_overrides(args))
    run = train_run(config, args.runs_dir, args.data_dir, args.device)
    summary = run.summary()
    print(f"{run.path}: test accuracy {summary['test_accuracy']:.4f}, mean selectivity {summary['mean_selectivity']:.4f}")


def _cmd_sweep(args: argparse.Namespace) -> None:
    from selrob import paths
    from selrob.config import sweep_configs
    from selrob.pipeline.sweep import SlurmOptions, run_sweep
    from selrob.store.runs import Run

    seeds = None if args.seeds is None else [s for group in args.seeds for s in group]
    configs = sweep_configs(args.dataset, args.arch, args.alpha, seeds, args.smoke, **training_overrides(args))
    slurm = SlurmOptions(args.slurm_partition, args.slurm_timeout_min, args.gpus_per_node, args.cpus_per_task)
    if args.together is False and args.max_together is not None:
        raise SelrobError("--max-together applies to runs trained together; drop it or --separate")
    root = paths.runs_dir(args.runs_dir)
    already = sum(Run.for_config(config, root).is_finished() for config in configs)
    runs = run_sweep(configs, executor=args.executor, workers=args.workers, runs_root=args.runs_dir,
                     data_root=args.data_dir, device=args.device, slurm=slurm, wait=not args.no_wait,
                     together=args.together,
                     **({} if args.max_together is None else {"max_together": args.max_together}))
    print(f"{sum(r.is_finished() for r in runs)} of {len(runs)} runs finished under {root} "
          f"({already} of them before this command)")


def _cmd_train_imagenet(args: argparse.Namespace) -> None:
    from selrob import paths
    from selrob.training.data_parallel import ImageNetTrainConfig, register_target, train_imagenet

    config = ImageNetTrainConfig(args.arch, args.training, seed=args.seed, epochs=args.epochs,
                                 batch_size=args.batch_size, lr=args.lr)
    if args.workers < 0:
        raise SelrobError(f"--workers must be 0 or more, got {args.workers}")
    imagenet = args.imagenet_dir or paths.data_dir(args.data_dir) / "imagenet"
    out = args.out_dir or paths.runs_dir(args.runs_dir) / "imagenet" / f"{args.arch}-{args.training}-seed{args.seed}"
    if args.slurm:
        from selrob.training.slurm import ClusterOptions, submit_imagenet

        if args.nodes < 1 or args.gpus_per_node < 1:
            raise SelrobError(f"--nodes and --gpus-per-node must be at least 1, got {args.nodes} and {args.gpus_per_node}")
        entry = register_target(config, args.register, args.runs_dir)
        cluster = ClusterOptions(args.nodes, args.gpus_per_node, partition=args.slurm_partition,
                                 timeout_min=args.slurm_timeout_min)
        job = submit_imagenet(config, imagenet, out, cluster, workers=args.workers, register=entry.name,
                              runs_root=args.runs_dir)
        print(f"submitted job {job.job_id} ({args.nodes} x {args.gpus_per_node} GPUs); logs in {out / '_submitit'}")
        return
    final = train_imagenet(config, imagenet, out, device=args.device, workers=args.workers, register=args.register,
                           runs_root=args.runs_dir)
    print(f"{final}: trained; registered in the zoo (`selrob zoo list`)")


def _cmd_reproduce(args: argparse.Namespace) -> None:
    from selrob.pipeline.reproduce import ReproduceOptions, reproduce
    from selrob.studies import select_studies

    options = ReproduceOptions(args.smoke, args.workers, args.runs_dir, args.data_dir, args.figures_dir,
                               args.outputs_dir, args.device)
    print(reproduce(select_studies(args.study), options))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from selrob.evaluations.registry import EvaluationSettings, get_evaluation, registered_evaluations
    from selrob.stats import summarize
    from selrob.tables.evaluations import evaluation_table, headline_table
    from selrob.tables.runs import load_sweep

    if args.list or args.name is None:
        print("\n".join(f"{name:<28} {evaluation.description}" for name, evaluation in registered_evaluations().items()))
        return
    evaluation = get_evaluation(args.name)
    settings = EvaluationSettings(corruption_source=args.source,
                                  corruptions=None if args.corruptions is None else tuple(args.corruptions),
                                  unit_gradient_samples=args.samples, smoke=args.smoke,
                                  data_root=None if args.data_dir is None else str(args.data_dir), device=args.device,
                                  cue_conflict_preprocessing=args.cue_conflict_preprocessing)
    if args.zoo is not None:
        from selrob.store.sources import first_test_images
        from selrob.zoo.sources import zoo_model

        selecting = {n: v for n, v in training_overrides(args).items() if n != "max_eval_samples"}
        chosen = [flag for flag, given in (("--alpha", args.alpha), ("--seeds", args.seeds), ("--arch", args.arch),
                                           ("--smoke", args.smoke), ("--dataset", args.dataset != "digits"),
                                           *((f"--{n.replace('_', '-')}", v) for n, v in selecting.items()))
                  if given]
        if chosen:
            raise SelrobError(f"{' '.join(chosen)} select a sweep's runs; --zoo evaluates the zoo models named instead")

        targets: Any = [first_test_images(zoo_model(name, args.runs_dir), args.max_eval_samples) for name in args.zoo]
        # A pairwise evaluation pairs the zoo models among themselves (standard with robust).
        sources, by = (targets if evaluation.pairwise else None), "model"
    else:
        run_seeds = None if args.seeds is None else [s for group in args.seeds for s in group]
        targets = load_sweep(args.dataset, args.arch, args.alpha, run_seeds, args.smoke, args.runs_dir, args.data_dir,
                             **training_overrides(args)).runs
        # A pairwise evaluation's first members are the alpha = 0 runs of the same seeds (the masking
        # check), trained without adversarial training (the standard partners of robust runs).
        standard = {k: v for k, v in training_overrides(args).items() if not k.startswith("adversarial_")}
        sources = (load_sweep(args.dataset, args.arch, 0.0, run_seeds, args.smoke, args.runs_dir, args.data_dir,
                              **standard).runs
                   if evaluation.pairwise else None)
        by = "alpha"
    table = evaluation_table(evaluation.name, targets, settings, sources=sources)
    if args.output is not None:
        from selrob.io import write_text

        write_text(args.output, table.to_csv(index=False))
    value = evaluation.value
    summary = summarize(headline_table(evaluation.name, table), by, [value])
    print(f"{evaluation.name}: {evaluation.description}; {len(table)} rows of {len(targets)} {'models' if args.zoo else 'runs'}")
    print(f"{value} {evaluation.headline_label}, per {by} (mean and 95% CI over {'seeds' if by == 'alpha' else 'rows'}):")
    print(f"  {by:>6} {'n':>3} {value + ' [95% CI]':>30}")
    for _, row in summary.iterrows():
        label = f"{row[by]:>6g}" if by == "alpha" else f"{row[by]:>6}"
        print(f"  {label} {int(row['n']):>3} {row[value]:>12.4f} [{row[value + '_ci_low']:.4f}, "
              f"{row[value + '_ci_high']:.4f}]")


def _cmd_claims(args: argparse.Namespace) -> None:
    import pandas as pd

    from selrob.io import write_text
    from selrob.pipeline.reproduce import ReproduceOptions
    from selrob.studies import select_studies

    options = ReproduceOptions(smoke=args.smoke, runs_dir=args.runs_dir, data_dir=args.data_dir)
    tables = []
    for study in select_studies(args.study, args.dataset):
        table, markdown = study.claims(options, args.dataset)
        tables.append(table.assign(study=study.name))
        print(markdown)
    if args.csv is not None:
        write_text(args.csv, pd.concat(tables, ignore_index=True).to_csv(index=False))


def _cmd_results(args: argparse.Namespace) -> None:
    from selrob.data import check_dataset
    from selrob.models import check_arch
    from selrob.studies.selectivity import results_report

    if args.dataset is not None:
        check_dataset(args.dataset)
    if args.arch is not None:
        check_arch(args.arch)
    if args.runs_dir is not None and not args.runs_dir.is_dir():
        raise SelrobError(f"runs folder {args.runs_dir} does not exist")
    print(results_report(args.runs_dir, args.dataset, args.arch))


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


def _cmd_zoo(args: argparse.Namespace) -> None:
    from selrob.zoo.commands import download_models, import_model, zoo_table

    if args.zoo_command == "list":
        print(zoo_table(args.runs_dir))
    elif args.zoo_command == "download":
        print("\n".join(download_models(args.name, args.runs_dir, args.data_dir)))
    else:
        print(import_model(args.name, args.path, args.runs_dir))


COMMANDS = {"train": _cmd_train, "sweep": _cmd_sweep, "train-imagenet": _cmd_train_imagenet, "evaluate": _cmd_evaluate,
            "reproduce": _cmd_reproduce, "claims": _cmd_claims, "results": _cmd_results, "data": _cmd_data, "zoo": _cmd_zoo}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``selrob`` command; returns the exit status."""
    from selrob.device import check_environment
    from selrob.parallel import Terminated, stop_on_sigterm

    args = build_parser().parse_args(argv)
    # Signal handlers belong to the main thread (main() may run in another, in a caller's program).
    previous = (signal.signal(signal.SIGTERM, stop_on_sigterm)
                if threading.current_thread() is threading.main_thread() else None)
    try:
        check_environment()
        COMMANDS[args.command](args)
    except SelrobError as err:
        print(f"selrob: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stopped:
        print(f"selrob: {'stopped by SIGTERM' if isinstance(stopped, Terminated) else 'interrupted'}; finished "
              "epochs and runs are saved, run the same command to resume", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(stopped, Terminated) else signal.SIGINT)
    finally:
        if previous is not None:  # None: not installed here, or not one Python set
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
