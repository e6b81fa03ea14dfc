"""The ``selrob`` command line: its parser (train, sweep, train-imagenet, evaluate, reproduce, claims,
figures, docs, results, data, zoo, model, pair) and :func:`main`; each command's work is in :mod:`selrob.commands`.

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
from selrob.config import DEFAULT_DATASET
from selrob.arguments import add_training_overrides, device, number, path, positive_int, seeds
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
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help="digits (default), cifar10, tinyimagenet or shapes (the second paper's embedded world)")
    parser.add_argument("--arch", help="resnet20, resnet18, resnet50 or alexnet_small (default: the paper's for the dataset)")
    parser.add_argument("--smoke", action="store_true", help="tiny runs (2 epochs, 256 images) for checks")
    add_training_overrides(parser.add_argument_group("overrides of the preset (see selrob.config)"))
    _add_common(parser)


def _add_list_and_remove(subcommands: Any, listing: str, removing: str) -> None:
    """The ``list`` and ``remove NAME`` subcommands of a registry of the researcher's (models, pairs)."""
    listed = subcommands.add_parser("list", help=listing)
    listed.add_argument("--runs-dir", type=path)
    removed = subcommands.add_parser("remove", help=removing)
    removed.add_argument("name")
    removed.add_argument("--runs-dir", type=path)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to document the CLI)."""
    from selrob.evaluations.registry import registered_evaluations, registered_parameters
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
    evaluate.add_argument("--output", type=path, help="also write the whole table to this CSV file")
    evaluate.add_argument("--zoo", nargs="+", metavar="MODEL",
                          help="evaluate these ImageNet zoo models (selrob zoo list) instead of a sweep's runs")
    evaluate.add_argument("--model", action="extend", nargs="+", metavar="NAME",
                          help="evaluate these models of yours (selrob model list; repeatable) instead of a sweep's runs")
    evaluate.add_argument("--pair", action="extend", nargs="+", metavar="NAME",
                          help="evaluate both models of these pairs of yours (selrob pair list; repeatable)")
    readers = {name: [e.name for e in registered_evaluations().values() if group in e.parameters]
               for name, group in registered_parameters().items()}
    for name, group in registered_parameters().items():  # each evaluation's own parameters
        group.add_flags(evaluate.add_argument_group(f"{name.replace('_', ' ')} (read by {', '.join(readers[name])})"))

    reproduce = commands.add_parser(
        "reproduce", help="train each study's models, make its data, fill its caches, then run its notebooks and figures")
    reproduce.add_argument("--study", default="all", help=f"all (default) or one study: {studies_named}")
    reproduce.add_argument("--smoke", action="store_true", help="the tiny smoke version of every study")
    reproduce.add_argument("--workers", type=positive_int,
                           help="worker processes for training and evaluations (default: one per core on CPU)")
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

    figures = commands.add_parser("figures", help="each study's figures: notebook, paper figure and the claims backing it")
    figures.add_argument("--study", default="all", help=f"all (default) or one study: {studies_named}")
    docs = commands.add_parser("docs", help="rewrite the documents generated from the registries (docs/figures.md, ...)")
    docs.add_argument("--check", action="store_true", help="only say which are out of date (exit 1 if any)")

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
    make_c.add_argument("--workers", type=positive_int, help="processes (default: one per core)")
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

    model = commands.add_parser("model", help="your own models: register one, then evaluate it with --model NAME")
    model_commands = model.add_subparsers(dest="model_command", required=True, parser_class=_Parser,
                                          metavar="{add,list,remove}")
    model_add = model_commands.add_parser("add", help="check and register a model (docs/your-models.md)")
    model_add.add_argument("name", help="its name (letters, digits, _ . -)")
    model_add.add_argument("--dataset", required=True, help="what it classifies: shapes, digits, cifar10, tinyimagenet or imagenet")
    model_add.add_argument("--arch", required=True, metavar="SPEC",
                           help="torchvision:NAME, timm:NAME (pip install 'selrob[timm]') or path/to/file.py:FACTORY")
    model_add.add_argument("--weights", type=path, help="a state dict file, read without running code (default: the "
                           "architecture's initialisation, seed 0)")
    model_add.add_argument("--layers", nargs="+", metavar="MODULE", help="modules whose maps the measures read, post-ReLU "
                           "ones as the papers do (default: each stage's last post-ReLU map)")
    model_add.add_argument("--mean", type=number, nargs="+", help="per-channel mean the model subtracts from [0, 1] images")
    model_add.add_argument("--std", type=number, nargs="+", help="per-channel std it divides by (with --mean)")
    model_add.add_argument("--robust", action="store_true", help="an adversarially trained (R) model")
    model_add.add_argument("--runs-dir", type=path)
    _add_list_and_remove(model_commands, "each registered model: dataset, arch, training, layers",
                         "delete a model, its weights copy and its evaluations")

    pair = commands.add_parser("pair", help="standard / robust pairs of your models, for notebooks 09-13 (-p pairs)")
    pair_commands = pair.add_subparsers(dest="pair_command", required=True, parser_class=_Parser,
                                        metavar="{add,list,remove}")
    pair_add = pair_commands.add_parser("add", help="register a pair of your models of one dataset")
    pair_add.add_argument("name")
    pair_add.add_argument("--standard", required=True, metavar="MODEL", help="a model added without --robust")
    pair_add.add_argument("--robust", required=True, metavar="MODEL", help="a model added with --robust")
    pair_add.add_argument("--runs-dir", type=path)
    _add_list_and_remove(pair_commands, "each registered pair", "forget a pair (its models stay)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``selrob`` command; returns the exit status."""
    from selrob.commands import COMMANDS
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
