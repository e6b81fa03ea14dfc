"""Bootstrapped confidence intervals (checked against SciPy) and atomic, untrusting file I/O."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as scipy_stats

from selrob.errors import SelrobError
from selrob.io import atomic_write, load_torch, read_json, save_torch, write_json
from selrob.stats import bootstrap_ci, mean_ci, summarize


def test_bootstrap_ci_agrees_with_scipy() -> None:
    values = np.random.default_rng(0).normal(0.8, 0.05, size=20)
    mean, low, high = bootstrap_ci(values, n_resamples=20_000)
    reference = scipy_stats.bootstrap((values,), np.mean, method="percentile", n_resamples=20_000, random_state=1)
    assert mean == pytest.approx(values.mean())
    assert low == pytest.approx(reference.confidence_interval.low, abs=2e-3)
    assert high == pytest.approx(reference.confidence_interval.high, abs=2e-3)


def test_bootstrap_ci_known_answers() -> None:
    assert bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    assert bootstrap_ci([0.3]) == (0.3, 0.3, 0.3)
    mean, low, high = bootstrap_ci([0.0, 1.0])  # resampled means are 0, 0.5, 1 with p 1/4, 1/2, 1/4
    assert (mean, low, high) == (0.5, 0.0, 1.0)
    with pytest.raises(ValueError):
        bootstrap_ci([])


def _band(frame: pd.DataFrame, errorbar: object, **options: object) -> np.ndarray:
    """(low, high) per x of the error band seaborn's lineplot draws."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots()
    sns.lineplot(data=frame, x="layer", y="y", errorbar=errorbar, ax=ax, **options)
    vertices = ax.collections[0].get_paths()[0].vertices
    plt.close(fig)
    return np.array([(vertices[vertices[:, 0] == x, 1].min(), vertices[vertices[:, 0] == x, 1].max())
                     for x in sorted(frame["layer"].unique())])


def test_mean_ci_is_seaborns_interval() -> None:
    """The figures' error bands: seaborn draws mean_ci's interval, which is its own ("ci", 95)."""
    # Two values: resampled means 0, 0.5, 1 whatever their order, so the band is (0, 1); equal values, no width.
    known = pd.DataFrame({"layer": [0, 0, 1, 1], "y": [1.0, 0.0, 2.0, 2.0]})
    assert _band(known, mean_ci).tolist() == [[0.0, 1.0], [2.0, 2.0]]
    values = np.random.default_rng(1).normal(0.5, 0.1, size=(3, 8))
    frame = pd.DataFrame({"layer": np.repeat(np.arange(3), 8), "y": values.ravel()})
    assert _band(frame, mean_ci) == pytest.approx(_band(frame, ("ci", 95), n_boot=20_000, seed=0), abs=3e-3)


def test_summarize_columns() -> None:
    frame = pd.DataFrame({"alpha": [0, 0, 1, 1], "acc": [0.9, 0.8, 0.7, 0.7], "si": [0.1, 0.2, 0.5, 0.5]})
    table = summarize(frame, "alpha", ["acc", "si"])
    assert list(table.columns) == ["alpha", "n", "acc", "acc_ci_low", "acc_ci_high", "si", "si_ci_low", "si_ci_high"]
    assert table["acc"].tolist() == pytest.approx([0.85, 0.7])
    assert table.loc[1, "si_ci_low"] == table.loc[1, "si_ci_high"] == 0.5


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    write_json(tmp_path / "r.json", {})
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    write_json(target, {"v": 1})

    def explode(handle: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, explode)
    assert read_json(target) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


class NotAWeight:
    pass


def test_checkpoints_load_weights_only(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    save_torch({"w": torch.ones(2)}, good)
    assert torch.equal(load_torch(good)["w"], torch.ones(2))
    foreign = tmp_path / "foreign.pt"
    torch.save({"object": NotAWeight()}, foreign)
    with pytest.raises(SelrobError, match="foreign.pt is unreadable"):
        load_torch(foreign)
    with pytest.raises(SelrobError, match="does not exist"):
        load_torch(tmp_path / "missing.pt")


def test_the_hierarchical_proportion_interval_sees_seeds_and_images() -> None:
    from selrob.stats import proportion_ci_across_seeds

    assert proportion_ci_across_seeds([np.ones(50, bool), np.ones(80, bool)]) == (1.0, 1.0, 1.0)
    # Two seeds far apart: the mean of the seeds, an interval spanning both.
    apart = [np.arange(1000) < 200, np.arange(1000) < 800]
    mean, low, high = proportion_ci_across_seeds(apart)
    assert mean == pytest.approx(0.5) and low < 0.25 and high > 0.75
    # One seed: the binomial interval over its images (about +-1.96 sqrt(p (1 - p) / n)).
    mean, low, high = proportion_ci_across_seeds([np.arange(400) < 100])
    assert mean == 0.25 and high - low == pytest.approx(2 * 1.96 * (0.25 * 0.75 / 400) ** 0.5, rel=0.1)
    with pytest.raises(ValueError, match="at least one image"):
        proportion_ci_across_seeds([np.ones(3, bool), np.ones(0, bool)])


def test_mean_ci_across_seeds_is_the_proportion_interval_on_binary_values_and_shrinks_with_averaging() -> None:
    from selrob.stats import mean_ci_across_seeds, proportion_ci_across_seeds

    rng = np.random.default_rng(3)
    binary = [rng.random(400) < 0.7, rng.random(300) < 0.6]
    mean, low, high = mean_ci_across_seeds([b.astype(float) for b in binary])
    reference = proportion_ci_across_seeds(binary)
    assert mean == pytest.approx(reference[0]) and low == pytest.approx(reference[1], abs=0.01)
    assert high == pytest.approx(reference[2], abs=0.01)
    # One seed: the bootstrap over its values, whose half-width is about 2 standard errors.
    values = rng.random(900)
    mean, low, high = mean_ci_across_seeds([values])
    assert low < mean < high and (high - low) / 2 == pytest.approx(1.96 * values.std() / np.sqrt(900), rel=0.15)
