"""Command-line values: argparse types, and the training-override flags generated once from
:class:`~selrob.config.TrainConfig` (for the parser, and reversed for hints that name a command)."""

from __future__ import annotations

import argparse
import math
import shlex
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from selrob.config import TrainConfig
from selrob.errors import SelrobError

#: The training settings the command line overrides, with their help; flags are ``--<name>``
#: with ``_`` as ``-``, typed from the field's annotation.
TRAINING_OVERRIDES: dict[str, str] = {
    "epochs": "training epochs",
    "batch_size": "images per step",
    "lr": "initial learning rate",
    "milestones": "epochs at which the learning rate is multiplied by lr_gamma",
    "val_per_class": "training images per class held out for validation",
    "max_train_samples": "train on N of the training images (a random subset per seed)",
    "max_eval_samples": "the first N images only: training validates (picks its best epoch) and tests on N; "
                        "evaluations use the first N test images (of runs trained alike on more, if none with N)",
    "augmix": "train with AugMix + JSD loss (appendix A.4; alpha 0)",
    "pgd_steps": "PGD training with this many steps (appendix A.7)",
    "adversarial_steps": "L2 adversarial training (second paper's R models) with this many PGD steps; the budget is "
                         "the dataset's (selrob.attacks.settings.l2_attack_preset)",
    "adversarial_epsilon": "L2 budget of adversarial training (default: the dataset's)",
    "adversarial_warmup": "epochs over which the adversarial budget grows linearly to its full size",
}


def number(text: str) -> float:
    """A finite float."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def seeds(text: str) -> list[int]:
    """``3`` or an increasing range ``0-19`` of non-negative integers."""
    first, _, last = text.partition("-")
    if not first.isdigit() or (last and not last.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed (a non-negative integer or a range like 0-19)")
    if last and int(last) < int(first):
        raise argparse.ArgumentTypeError(f"{text!r} is an empty range; write the smaller seed first, like 0-19")
    return list(range(int(first), int(last or first) + 1))


def device(text: str) -> str:
    """``auto``, ``cpu`` or ``cuda[:N]``, checked before anything is read or trained."""
    from selrob.device import resolve_device

    try:
        resolve_device(text)
    except SelrobError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def path(text: str) -> Path:
    return Path(text).expanduser().resolve()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_training_overrides(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """One flag per entry of ``TRAINING_OVERRIDES``; unset flags leave the preset's value."""
    hints = typing.get_type_hints(TrainConfig)
    for name, help_text in TRAINING_OVERRIDES.items():
        hint = hints[name]
        if hint is bool:
            parser.add_argument(_flag(name), action="store_true", default=None, help=help_text)
        elif typing.get_origin(hint) is tuple:
            parser.add_argument(_flag(name), type=int, nargs="+", help=help_text)
        else:
            base = next(t for t in typing.get_args(hint) or (hint,) if t is not type(None))
            parser.add_argument(_flag(name), type=number if base is float else base, help=help_text)


def training_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The overrides the user gave (flags left unset are not overrides)."""
    return {name: getattr(args, name) for name in TRAINING_OVERRIDES if getattr(args, name) is not None}


def overrides_from_flags(text: str) -> dict[str, Any]:
    """The training overrides that ``text`` gives as ``selrob sweep``'s flags (``--epochs 3
    --augmix``), checked by the same parser: for notebooks, which select runs as the CLI does."""
    parser = argparse.ArgumentParser(prog="training", add_help=False, allow_abbrev=False, exit_on_error=False)
    add_training_overrides(parser)
    try:
        args, unknown = parser.parse_known_args(shlex.split(text))
    except (argparse.ArgumentError, ValueError) as err:
        raise SelrobError(f"training settings {text!r}: {err}") from None
    if unknown:
        raise SelrobError(f"training settings {text!r}: {unknown[0]!r} is not a training flag; allowed: "
                          f"{', '.join(map(_flag, TRAINING_OVERRIDES))}")
    return training_overrides(args)


def override_flags(overrides: Mapping[str, Any]) -> str:
    """The flags that give ``overrides`` back (`` --augmix --epochs 3``), for hints naming a command."""
    parts = []
    for name, value in overrides.items():
        if value is None or value is False:
            continue
        if value is True:
            parts.append(_flag(name))
        elif isinstance(value, (list, tuple)):
            parts.append(f"{_flag(name)} {' '.join(map(str, value))}")
        else:
            parts.append(f"{_flag(name)} {value}")
    return "".join(" " + part for part in parts)

