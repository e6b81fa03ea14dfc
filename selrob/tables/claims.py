"""Claims a reader can trust: each finding of a paper declared with the statistic that tests it and
the direction the paper reports, and its verdict computed from the runs.

A claim's ``data`` gives one row per run (or per pair of runs) with the columns its statistic
reads:

* :class:`Trend` - the least-squares slope of ``y`` against ``x`` (e.g. against alpha), with a
  bootstrap 95% CI resampling seeds within each level of ``x``;
* :class:`PairedDifference` - the mean of per-seed (or per-run) differences ``y``, with a
  bootstrap 95% CI over them.

The verdict is *supports* when the CI excludes 0 in the paper's direction, *contradicts* when it
excludes 0 the other way, *inconclusive* when it includes 0. For an inconclusive claim the table
also gives the replicates per level that would detect the observed effect with 80% power (the
observed spread, a two-sided 5% test): the evidence a decision would need.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from selrob.stats import bootstrap_ci, slope_ci

SUPPORTS, CONTRADICTS, INCONCLUSIVE = "supports", "contradicts", "inconclusive"
#: z of a two-sided 95% interval and of 80% power.
_Z_95, _Z_POWER = 1.959964, 0.841621


@dataclass(frozen=True)
class Trend:
    """The slope of ``y`` against ``x`` over the rows of a claim's data."""

    x: str
    y: str = "value"

    def estimate(self, frame: pd.DataFrame) -> tuple[float, float, float]:
        return slope_ci(frame[self.x].to_numpy(), frame[self.y].to_numpy())

    def replicates(self, frame: pd.DataFrame) -> int:
        """Rows per level of ``x`` (the smallest level)."""
        return int(frame.groupby(self.x).size().min())

    def describe(self) -> str:
        return f"slope vs {self.x}"


@dataclass(frozen=True)
class PairedDifference:
    """The mean of the per-pair differences ``y`` (one row per pair)."""

    y: str = "difference"

    def estimate(self, frame: pd.DataFrame) -> tuple[float, float, float]:
        return bootstrap_ci(frame[self.y].to_numpy())

    def replicates(self, frame: pd.DataFrame) -> int:
        return len(frame)

    def describe(self) -> str:
        return f"mean paired {self.y}"


@dataclass(frozen=True)
class Claim:
    """One finding: ``statement`` as the paper reports it, in ``figures``; ``direction`` is the
    sign the paper reports for the statistic; ``data(inputs)`` returns its rows."""

    key: str
    statement: str
    figures: str
    statistic: Trend | PairedDifference
    direction: int
    data: Callable[[Any], pd.DataFrame]
    unit: str = ""


def verdict(low: float, high: float, direction: int) -> str:
    """:data:`SUPPORTS`, :data:`CONTRADICTS` or :data:`INCONCLUSIVE` from a CI and the paper's sign."""
    if low > 0 or high < 0:
        return SUPPORTS if (low > 0) == (direction > 0) else CONTRADICTS
    return INCONCLUSIVE


def replicates_for_power(effect: float, low: float, high: float, replicates: int) -> int | None:
    """Replicates per level that give 80% power to detect ``effect`` at the observed spread
    (standard error from the CI's width, shrinking with the square root of the replicates)."""
    standard_error = (high - low) / (2 * _Z_95)
    if effect == 0 or standard_error == 0:
        return None
    return math.ceil(replicates * ((_Z_95 + _Z_POWER) * standard_error / abs(effect)) ** 2)


CLAIM_COLUMNS = ["claim", "statement", "figures", "statistic", "effect", "ci_low", "ci_high", "unit", "n",
                 "replicates", "verdict", "replicates_for_80_power"]


def evaluate_claim(claim: Claim, frame: pd.DataFrame) -> dict[str, Any]:
    """One row of the claims table: the statistic on ``frame``, its CI and the verdict."""
    effect, low, high = claim.statistic.estimate(frame)
    replicates = claim.statistic.replicates(frame)
    decided = verdict(low, high, claim.direction)
    return {
        "claim": claim.key, "statement": claim.statement, "figures": claim.figures,
        "statistic": claim.statistic.describe(), "effect": effect, "ci_low": low, "ci_high": high,
        "unit": claim.unit, "n": len(frame), "replicates": replicates, "verdict": decided,
        "replicates_for_80_power": (replicates_for_power(effect, low, high, replicates)
                                    if decided == INCONCLUSIVE else None),
    }


def claims_table(claims: Sequence[Claim], inputs: Any) -> pd.DataFrame:
    """Every claim tested on the data ``inputs`` provides, in declaration order."""
    return pd.DataFrame([evaluate_claim(claim, claim.data(inputs)) for claim in claims], columns=CLAIM_COLUMNS)


def _number(value: float) -> str:
    return f"{value:.3g}"


def claims_markdown(table: pd.DataFrame, preamble: Sequence[str]) -> str:
    """The claims table as markdown: ``preamble`` lines, one row per claim, then the counts and,
    for inconclusive claims, the replicates a decision would need."""
    lines = [*preamble, "", "| claim | paper | statistic | effect [95% CI] | unit | n | verdict |",
             "|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.statement} | {row.figures} | {row.statistic} | {_number(row.effect)} "
                     f"[{_number(row.ci_low)}, {_number(row.ci_high)}] | {row.unit} | {row.n} | **{row.verdict}** |")
    counts = table["verdict"].value_counts()
    lines += ["", f"Of {len(table)} claims: {counts.get(SUPPORTS, 0)} supported, {counts.get(CONTRADICTS, 0)} "
                  f"contradicted, {counts.get(INCONCLUSIVE, 0)} inconclusive."]
    for row in table[table["verdict"] == INCONCLUSIVE].itertuples():
        needed = row.replicates_for_80_power
        lines.append(f"- *{row.statement}*: the data cannot decide; " + (
            f"about {int(needed)} replicates per level (here {row.replicates}) would detect the observed effect with "
            "80% power." if pd.notna(needed) else "no effect was observed at all."))
    return "\n".join(lines) + "\n"
