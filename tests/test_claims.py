"""Claims: the statistics against known answers and SciPy, each verdict on hand-built per-run tables,
and the committed README, claims file and figures coming from one reproduce."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from selrob.pipeline import report
from selrob.errors import SelrobError
from selrob.stats import mean_difference_ci, slope_ci
from selrob.studies import studies
from selrob.tables.claims import (
    CLAIM_COLUMNS,
    CONTRADICTS,
    INCONCLUSIVE,
    MOST_REPLICATES,
    SUPPORTS,
    Claim,
    PairedDifference,
    Trend,
    at_the_edge,
    fragile_rows,
    claims_markdown,
    claims_summary,
    claims_table,
    evaluate_claim,
    leave_one_out,
    replicates_for_power,
    verdict,
    verdict_counts,
)

REPO = Path(__file__).resolve().parents[1]
ALPHAS = np.repeat([-1.0, -0.4, 0.0, 0.4, 1.0], 3)


def per_run(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"alpha": ALPHAS, "seed": np.tile([0, 1, 2], 5), "value": values})


def test_slope_interval_is_scipys_t_interval_and_covers_95_percent() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        y = 0.5 * ALPHAS + rng.normal(0, 0.05, ALPHAS.size)
        slope, low, high = slope_ci(ALPHAS, y)
        fit = stats.linregress(ALPHAS, y)
        half = stats.t.ppf(0.975, ALPHAS.size - 2) * fit.stderr
        assert (slope, low, high) == pytest.approx((fit.slope, fit.slope - half, fit.slope + half), rel=1e-9)
        covered += low < 0.5 < high
    assert 0.92 <= covered / 400 <= 0.98  # nominal 95%; with 400 datasets the count's own spread is ~1%
    assert slope_ci(ALPHAS, 2 * ALPHAS + 1) == pytest.approx((2.0, 2.0, 2.0))  # an exact line: no width
    with pytest.raises(ValueError, match="two or more levels"):
        slope_ci([1.0, 1.0, 1.0], [0.0, 1.0, 2.0])


def test_paired_difference_interval_is_the_one_sample_t_interval() -> None:
    differences = np.array([0.2, 0.3, 0.25, 0.22])
    mean, low, high = mean_difference_ci(differences)
    expected = stats.ttest_1samp(differences, 0.0).confidence_interval(0.95)
    assert (mean, low, high) == pytest.approx((differences.mean(), expected.low, expected.high), rel=1e-9)


def test_claims_on_too_little_data_are_one_clear_error() -> None:
    one_level = per_run(ALPHAS).query("alpha == 0")
    with pytest.raises(SelrobError, match="needs two or more levels with two or more runs each"):
        evaluate_claim(Claim("c", "s", "1", Trend("alpha"), +1, lambda inputs: inputs), one_level)
    with pytest.raises(SelrobError, match="needs two or more pairs, got 1"):
        evaluate_claim(Claim("d", "s", "1", PairedDifference(), +1, lambda inputs: inputs),
                       pd.DataFrame({"difference": [0.1]}))


def test_a_claim_most_pairs_have_no_value_for_is_inconclusive_and_says_why() -> None:
    claim = Claim("e", "statement", "1", PairedDifference(some_pairs_lack_it=True), +1, lambda inputs: inputs)
    row = evaluate_claim(claim, pd.DataFrame({"difference": [0.1]}))
    assert row["verdict"] == INCONCLUSIVE and row["effect"] == pytest.approx(0.1) and np.isnan(row["ci_low"])
    table = pd.DataFrame([row], columns=CLAIM_COLUMNS)
    assert "*statement*: the data cannot decide; only 1 of the pairs have a value, too few for a CI." in \
        claims_markdown(table, [])
    assert evaluate_claim(claim, pd.DataFrame({"difference": []}))["verdict"] == INCONCLUSIVE


# Spread 0.05 within each alpha around a slope of 0.5, or around no slope at all (the seeds'
# values are symmetric about each alpha's mean, so the fitted slope is 0 exactly).
RISING = per_run(0.5 * ALPHAS + np.tile([-0.05, 0.0, 0.05], 5))
FLAT = per_run(np.tile([-0.05, 0.0, 0.05], 5))


@pytest.mark.parametrize(("frame", "direction", "expected"), [
    (RISING, +1, SUPPORTS), (RISING, -1, CONTRADICTS), (FLAT, +1, INCONCLUSIVE), (FLAT, -1, INCONCLUSIVE),
])
def test_a_trend_claims_verdict(frame: pd.DataFrame, direction: int, expected: str) -> None:
    claim = Claim("c", "value rises with alpha", "1", Trend("alpha"), direction, lambda inputs: inputs)
    row = claims_table([claim], frame).iloc[0]
    assert row["verdict"] == expected and row["n"] == 15 and row["replicates"] == 3
    assert row["ci_low"] <= row["effect"] <= row["ci_high"]
    needed = row["replicates_for_80_power"]
    # Only an undecided claim says what a decision would need: more seeds than it has (none for no effect).
    assert pd.isna(needed) if expected != INCONCLUSIVE else (pd.isna(needed) or needed > 3)


@pytest.mark.parametrize(("differences", "direction", "expected"), [
    ([0.2, 0.3, 0.25, 0.22], +1, SUPPORTS), ([0.2, 0.3, 0.25, 0.22], -1, CONTRADICTS), ([-0.1, 0.1, 0.05, -0.02], -1, INCONCLUSIVE),
])
def test_a_paired_difference_claims_verdict(differences: list[float], direction: int, expected: str) -> None:
    claim = Claim("d", "a is above b", "2", PairedDifference(), direction, lambda inputs: inputs)
    row = claims_table([claim], pd.DataFrame({"difference": differences})).iloc[0]
    assert row["verdict"] == expected and row["effect"] == pytest.approx(np.mean(differences))


def test_verdict_and_power_by_hand() -> None:
    assert verdict(0.1, 0.3, +1) == SUPPORTS and verdict(0.1, 0.3, -1) == CONTRADICTS
    assert verdict(-0.3, -0.1, -1) == SUPPORTS and verdict(-0.1, 0.3, +1) == INCONCLUSIVE
    # Standard error 1 (CI half-width 1.96), effect 1: 3 x (1.96 + 0.84)^2 = 23.5 -> 24 replicates.
    assert replicates_for_power(1.0, 1.0 - 1.959964, 1.0 + 1.959964, 3) == 24
    assert replicates_for_power(0.0, -1.0, 1.0, 3) is None and replicates_for_power(float("nan"), -1.0, 1.0, 3) is None
    assert replicates_for_power(1e-6, -1.0, 1.0, 3) == MOST_REPLICATES


def test_the_markdown_report_counts_the_verdicts_and_names_what_is_undecided() -> None:
    claims = [Claim("up", "rises", "1", Trend("alpha"), +1, lambda inputs: RISING),
              Claim("flat", "moves", "2", Trend("alpha"), +1, lambda inputs: FLAT.assign(value=FLAT["value"] + 0.01 * FLAT["alpha"]))]
    markdown = claims_markdown(claims_table(claims, None), ["preamble line"])
    assert markdown.startswith("preamble line\n")
    assert "Of 2 claims: 1 supported (1 robust, 0 fragile), 0 contradicted, 1 inconclusive (1 robust, 0 fragile)." in markdown
    assert "*moves*: the data cannot decide; about" in markdown and "seeds per alpha (here 3)" in markdown
    assert "| **supports** |" in markdown


def test_a_two_sided_question_names_the_side_its_interval_lies_on() -> None:
    answers = ("more", "less")
    assert verdict(0.1, 0.3, 0, answers) == "more" and verdict(-0.3, -0.1, 0, answers) == "less"
    assert verdict(-0.1, 0.3, 0, answers) == INCONCLUSIVE
    with pytest.raises(SelrobError, match="a two-sided question .direction 0. names its two answers"):
        Claim("q", "s", "1", PairedDifference(), 0, lambda inputs: inputs)
    with pytest.raises(SelrobError, match="names its two answers"):
        Claim("q", "s", "1", PairedDifference(), +1, lambda inputs: inputs, answers=answers)
    question = Claim("q", "more or less", "1", PairedDifference(), 0, lambda inputs: inputs, answers=answers)
    row = claims_table([question], pd.DataFrame({"difference": [-0.2, -0.3, -0.25, -0.22]})).iloc[0]
    assert row["verdict"] == "less" and row["answers"] == "more / less"


def _paired(differences: list[float]) -> Claim:
    return Claim("d", "a is above b", "1", PairedDifference(), +1, lambda inputs: pd.DataFrame(
        {"arch": ["x"] * len(differences), "seed": range(len(differences)), "difference": differences}))


def test_leaving_out_one_pair_flags_a_verdict_that_one_pair_decides() -> None:
    steady = _paired([0.20, 0.21, 0.19, 0.20, 0.22])
    assert leave_one_out(steady, steady.data(None)) == []
    # Three pairs agree, the fourth pulls the mean to 0: without it the claim is supported.
    carried = _paired([0.10, 0.12, 0.11, -0.30])
    assert evaluate_claim(carried, carried.data(None))["verdict"] == INCONCLUSIVE
    assert leave_one_out(carried, carried.data(None)) == ["arch x seed 3"]
    row = claims_table([carried], None).iloc[0]
    assert row["fragile"] and "changes without arch x seed 3" in row["fragile_because"]


def test_leaving_out_one_seed_drops_its_runs_at_every_level() -> None:
    """Seed 2 alone carries the slope: leaving it out leaves two flat seeds (slope 0, inconclusive)."""
    values = np.where(np.tile([0, 1, 2], 5) == 2, ALPHAS, 0.0) + np.tile([0.01, -0.01, 0.0], 5)
    claim = Claim("c", "rises", "1", Trend("alpha"), +1, lambda inputs: per_run(values))
    assert evaluate_claim(claim, per_run(values))["verdict"] == SUPPORTS
    assert leave_one_out(claim, per_run(values)) == ["seed 2"]
    assert leave_one_out(Claim("r", "rises", "1", Trend("alpha"), +1, lambda inputs: RISING), RISING) == []
    with pytest.raises(SelrobError, match="replicate column 'seed'"):
        leave_one_out(claim, per_run(values).drop(columns="seed"))


def _interval(t_statistic: float, rows: int, df: int) -> tuple[float, float, float, int]:
    """Effect 1 with the t interval (``df`` degrees of freedom) whose t statistic is ``t_statistic``."""
    half = stats.t.ppf(0.975, df) / t_statistic
    return 1.0, 1.0 - half, 1.0 + half, rows


def test_a_verdict_is_at_the_edge_when_a_plausible_spread_would_change_it() -> None:
    """4 pairs (3 degrees of freedom, critical t 3.18): the 80% interval of the spread is 0.69 to
    2.27 times the observed one, so a decided verdict needs t > 3.18 x 2.27 = 7.2 to survive the
    largest, and an undecided one is decided by the smallest when t > 3.18 x 0.69 = 2.2."""
    paired = PairedDifference()
    assert at_the_edge(*_interval(4.0, 4, 3), paired) and not at_the_edge(*_interval(9.0, 4, 3), paired)
    assert at_the_edge(*_interval(2.5, 4, 3), paired) and not at_the_edge(*_interval(1.5, 4, 3), paired)
    # A trend over 15 runs (13 degrees of freedom, critical t 2.16; spread up to 1.36 times): t 2.5 is
    # at the edge, t 4 is not.
    trend = Trend("alpha")
    assert at_the_edge(*_interval(2.5, 15, 13), trend) and not at_the_edge(*_interval(4.0, 15, 13), trend)
    assert not at_the_edge(float("nan"), float("nan"), float("nan"), 1, paired)
    table = pd.DataFrame([{"effect": e, "ci_low": lo, "ci_high": hi, "n": n, "statistic": "mean paired difference"}
                          for e, lo, hi, n in (_interval(4.0, 4, 3), _interval(9.0, 4, 3))])
    assert fragile_rows(table).tolist() == [True, False]
    trend = pd.DataFrame([{"effect": e, "ci_low": lo, "ci_high": hi, "n": n, "statistic": "slope vs alpha"}
                          for e, lo, hi, n in (_interval(2.5, 15, 13), _interval(4.0, 15, 13))])
    assert fragile_rows(trend).tolist() == [True, False]  # read as a trend: 13 degrees of freedom
    assert fragile_rows(table, spread_confidence=0.1).tolist() == [False, False]  # 0.92-1.09 x the spread: t 4 holds


def test_the_counts_split_robust_from_fragile_verdicts_and_the_summary_links_the_report() -> None:
    table = pd.DataFrame({"statement": ["a", "b", "c", "d"], "effect": [1.0, -1.0, 0.5, 0.0],
                          "ci_low": [0.5, -2.0, 0.1, -1.0], "ci_high": [1.5, -0.5, 0.9, 1.0],
                          "verdict": [SUPPORTS, "less", SUPPORTS, INCONCLUSIVE], "fragile": [False, True, True, False],
                          "answers": ["", "more / less", "", ""]})
    assert verdict_counts(table) == ("Of 4 claims: 2 supported (1 robust, 1 fragile), 0 contradicted, "
                                     "1 less (0 robust, 1 fragile), 1 inconclusive (1 robust, 0 fragile).")
    questions = table[table["answers"] != ""]
    assert verdict_counts(questions) == "Of 1 claims: 1 less (0 robust, 1 fragile), 0 inconclusive."
    summary = claims_summary(table, "figures/claims_x.md")
    assert "| b | -1 [-2, -0.5] | **less** (fragile) |" in summary and "| a | 1 [0.5, 1.5] | **supports** |" in summary
    assert summary.rstrip().endswith("[figures/claims_x.md](figures/claims_x.md).")


def _committed(pattern: str) -> list[str]:
    """Committed files of ``pattern`` directly in their folder (not the explorer's screenshots in
    ``figures/explorer/``, which the browser test writes, not the reproduce)."""
    listed = subprocess.run(["git", "ls-files", pattern], cwd=REPO, capture_output=True, text=True, check=True).stdout
    folder = str(Path(pattern).parent)
    return [Path(line).name for line in listed.splitlines() if str(Path(line).parent) == folder]


@pytest.mark.parametrize("study", sorted(studies()))
def test_the_readme_embeds_the_committed_claims_in_short(study: str) -> None:
    stem = report.claims_stem(study)
    committed = pd.read_csv(REPO / "figures" / f"{stem}.csv")
    assert report.marked_block((REPO / "README.md").read_text(encoding="utf-8"), stem) == report.readme_block(committed, stem)


def test_the_committed_figures_and_claims_come_from_one_reproduce() -> None:
    manifest = report.read_manifest(REPO / "figures")
    figures = _committed("figures/*.png") + _committed("figures/*.pdf")
    assert figures and sorted(name for name in manifest if name.endswith(report.FIGURE_SUFFIXES)) == sorted(figures)
    assert {f"{report.claims_stem(study)}.{suffix}" for study in studies() for suffix in ("md", "csv")} <= set(manifest)
    for name, digest in manifest.items():
        assert report.sha256(REPO / "figures" / name) == digest, f"figures/{name} is not from the reproduce that wrote the manifest"
