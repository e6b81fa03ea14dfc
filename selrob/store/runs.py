"""The run store: one folder per trained model, keyed by everything that produced it.

Layout (owned here alone): ``<runs>/<dataset>/<arch>/protocol-<key>/alpha_<alpha>/seed_<seed>/``
where ``key`` hashes every other result-affecting setting (:meth:`TrainConfig.protocol_key`). A
run folder holds

* ``config.json``  the resolved :class:`TrainConfig` (written first);
* ``metrics.csv``  one row per finished epoch;
* ``last.pt``      model, optimizer and history after the last finished epoch (resume point;
  removed once the run is finished);
* ``best.pt``      model weights of the best-validation epoch;
* ``summary.json`` written last: its presence marks a finished run;
* ``evaluations/`` the cached evaluations of the finished model (:mod:`selrob.store.cache`).

Every file is written atomically.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from selrob import paths
from selrob.errors import SelrobError
from selrob.io import load_torch, read_json
from selrob.config import TrainConfig
from selrob.data.base import ImageSet


#: The keys that name a run, in folder order: ``<runs>/<dataset>/<arch>/protocol-<protocol>/alpha_<alpha>/seed_<seed>``.
RUN_KEYS = ("dataset", "arch", "protocol", "alpha", "seed")
_PREFIXES = ("", "", "protocol-", "alpha_", "seed_")
#: Every finished run below a runs folder.
FINISHED_GLOB = "/".join(prefix + "*" for prefix in _PREFIXES) + "/summary.json"


def format_alpha(alpha: float) -> str:
    """Folder-name form of alpha: ``-1.0``, ``0.0`` (never ``-0.0``), ``0.4``."""
    return repr(float(alpha) + 0.0)


@dataclass(frozen=True)
class Run:
    """One run folder: a model trained here, and a model source (:class:`selrob.store.sources.ModelSource`)."""

    path: Path

    @classmethod
    def for_config(cls, config: TrainConfig, runs_root: str | Path | None = None) -> Run:
        """The folder of ``config`` under the runs folder."""
        values = (config.dataset, config.arch, config.protocol_key(), format_alpha(config.alpha), str(config.seed))
        return cls(paths.runs_dir(runs_root).joinpath(*(p + v for p, v in zip(_PREFIXES, values))))

    @property
    def identity(self) -> dict[str, Any]:
        """The run's keys (``RUN_KEYS``), from its configuration: what tables are keyed by."""
        config = self.config()
        return {"dataset": config.dataset, "arch": config.arch, "protocol": config.protocol_key(),
                "alpha": config.alpha, "seed": config.seed}

    @property
    def name(self) -> str:
        """``dataset/arch/protocol-<key>/alpha_<a>/seed_<s>``: the run's name, whatever the runs folder."""
        return "/".join(self.path.parts[-len(RUN_KEYS):])

    @property
    def dataset(self) -> str:
        return self.config().dataset

    @property
    def seed(self) -> int:
        """The training seed (also seeds PGD's random start)."""
        return self.config().seed

    @property
    def adversarially_trained(self) -> bool:
        """Trained with the second paper's L2 adversarial training (an R model)."""
        return self.config().adversarial_steps is not None

    @property
    def dissected_layers(self) -> tuple[str, ...]:
        """The post-ReLU modules of its network that layer-wise analyses read."""
        from selrob.models import dissected_layers

        return dissected_layers(self.config().arch)

    @property
    def unit_layers(self) -> None:
        """``None``: every ReLU call is a layer of units (paper section 3)."""
        return None

    @property
    def eval_samples(self) -> int | None:
        """How many images of each test set it is evaluated on (``None``: all; smoke runs use fewer)."""
        return self.config().max_eval_samples

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def last_path(self) -> Path:
        return self.path / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.path / "best.pt"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    def is_finished(self) -> bool:
        """True once ``summary.json`` exists."""
        return self.summary_path.is_file()

    def config(self) -> TrainConfig:
        """The run's resolved configuration (read once: it never changes once written)."""
        return self._config

    @functools.cached_property
    def _config(self) -> TrainConfig:
        return TrainConfig.from_dict(read_json(self.config_path))

    def summary(self) -> dict[str, Any]:
        """The final summary (clean test accuracy, selectivity per layer, ...)."""
        return read_json(self.summary_path)

    def test_set(self, data_root: str | Path | None = None) -> ImageSet:
        """The clean test images the run is evaluated on (the first ``max_eval_samples`` for smoke runs)."""
        from selrob.data import load_test_set

        config = self.config()
        return load_test_set(config.dataset, data_root).head(config.max_eval_samples)

    @property
    def evaluations_dir(self) -> Path:
        """Cached evaluations of the finished model (corruptions, attacks, ...)."""
        return self.path / "evaluations"

    def load_model(self, device: torch.device | str = "cpu") -> nn.Module:
        """The finished run's best-validation model in eval mode (weights loaded as untrusted data)."""
        from selrob.data import dataset_info
        from selrob.models import build_model
        from selrob.models.placement import place_for_evaluation

        if not self.is_finished():
            raise SelrobError(f"{self.path} is not a finished run")
        config = self.config()
        info = dataset_info(config.dataset)
        model = build_model(config.arch, num_classes=info.num_classes, in_channels=info.in_channels, mean=info.mean, std=info.std)
        model.load_state_dict(load_torch(self.best_path))
        return place_for_evaluation(model, device)


def find_runs(runs_root: str | Path | None = None) -> list[Run]:
    """Every finished run under the runs folder, in path order."""
    root = paths.runs_dir(runs_root)
    if not root.is_dir():
        return []
    return [Run(p.parent) for p in sorted(root.glob(FINISHED_GLOB))]


def check_config_matches(run: Run, config: TrainConfig) -> None:
    """Refuse to reuse a folder whose stored config differs from ``config``."""
    stored = run.config()
    if stored != config:
        raise SelrobError(f"{run.config_path} holds a different configuration; move that run away first")
