"""Claims a reader can trust: each finding of a paper declared with the statistic that tests it and
the direction the paper reports, and its verdict computed from the runs.

A claim's ``data`` gives one row per run (or per pair of runs) with the columns its statistic
reads:

* :class:`Trend` - the least-squares slope of ``y`` against ``x`` (e.g. against alpha) over one
  row per run, with its t 95% CI (:func:`selrob.stats.slope_ci`);
* :class:`PairedDifference` - the mean of per-seed (or per-run) differences ``y``, with its t 95%
  CI (:func:`selrob.stats.mean_difference_ci`).

The verdict is *supports* when the CI excludes 0 in the paper's direction, *contradicts* when it
excludes 0 the other way, *inconclusive* when it includes 0. Each claim is tested at the 5% level
on its own (no correction for testing many). For an inconclusive claim the table also gives the
replicates (seeds per level, or pairs) that would detect the observed effect with 80% power at
the observed spread: the evidence a decision would need.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from selrob.errors import SelrobError
from selrob.stats import mean_difference_ci, slope_ci

SUPPORTS, CONTRADICTS, INCONCLUSIVE = "supports", "contradicts", "inconclusive"
#: z of a two-sided 95% interval and of 80% power.
_Z_95, _Z_POWER = 1.959964, 0.841621


@dataclass(frozen=True)
class Trend:
    """The slope of ``y`` against ``x`` over the rows of a claim's data."""

    x: str
    y: str = "value"

    def estimate(self, frame: pd.DataFrame) -> tuple[float, float, float]:
        if frame[self.x].nunique() < 2 or self.replicates(frame) < 2:
            raise SelrobError(f"a slope against {self.x} needs two or more levels with two or more runs each, "
                              f"got {frame.groupby(self.x).size().to_dict()}")
        return slope_ci(frame[self.x].to_numpy(), frame[self.y].to_numpy())

    def replicates(self, frame: pd.DataFrame) -> int:
        """Rows per level of ``x`` (the smallest level)."""
        return int(frame.groupby(self.x).size().min())

    def describe(self) -> str:
        return f"slope vs {self.x}"

    def replicates_unit(self) -> str:
        return f"seeds per {self.x}"


@dataclass(frozen=True)
class PairedDifference:
    """The mean of the per-pair differences ``y`` (one row per pair). With ``some_pairs_lack_it``
    a pair may have no value (e.g. a model without a texture unit has no texture-unit bias): with
    fewer than two pairs left the CI is undefined and the claim inconclusive, not an error."""

    y: str = "difference"
    some_pairs_lack_it: bool = False

    def estimate(self, frame: pd.DataFrame) -> tuple[float, float, float]:
        if len(frame) < 2:
            if self.some_pairs_lack_it:
                return float(frame[self.y].mean()) if len(frame) else math.nan, math.nan, math.nan
            raise SelrobError(f"a paired difference needs two or more pairs, got {len(frame)}")
        return mean_difference_ci(frame[self.y].to_numpy())

    def replicates(self, frame: pd.DataFrame) -> int:
        return len(frame)

    def describe(self) -> str:
        return f"mean paired {self.y}"

    def replicates_unit(self) -> str:
        return "pairs"


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


#: Beyond this many replicates the estimate says only "far more than a sweep can afford".
MOST_REPLICATES = 1000


def replicates_for_power(effect: float, low: float, high: float, replicates: int) -> int | None:
    """Replicates that give 80% power to detect ``effect`` at the observed spread (the standard
    error from the CI's width, shrinking with the square root of the replicates; large-sample z
    values), capped at ``MOST_REPLICATES``; ``None`` when nothing was observed to detect."""
    standard_error = (high - low) / (2 * _Z_95)
    if not math.isfinite(effect) or not math.isfinite(standard_error) or abs(effect) <= 1e-12 * standard_error:
        return None
    return min(MOST_REPLICATES, math.ceil(replicates * ((_Z_95 + _Z_POWER) * standard_error / abs(effect)) ** 2))


CLAIM_COLUMNS = ["claim", "statement", "figures", "statistic", "effect", "ci_low", "ci_high", "unit", "n",
                 "replicates", "replicates_unit", "verdict", "replicates_for_80_power"]


def evaluate_claim(claim: Claim, frame: pd.DataFrame) -> dict[str, Any]:
    """One row of the claims table: the statistic on ``frame``, its CI and the verdict."""
    effect, low, high = claim.statistic.estimate(frame)
    replicates = claim.statistic.replicates(frame)
    decided = verdict(low, high, claim.direction)
    return {
        "claim": claim.key, "statement": claim.statement, "figures": claim.figures,
        "statistic": claim.statistic.describe(), "effect": effect, "ci_low": low, "ci_high": high,
        "unit": claim.unit, "n": len(frame), "replicates": replicates,
        "replicates_unit": claim.statistic.replicates_unit(), "verdict": decided,
        "replicates_for_80_power": (replicates_for_power(effect, low, high, replicates)
                                    if decided == INCONCLUSIVE else None),
    }


def claims_table(claims: Sequence[Claim], inputs: Any) -> pd.DataFrame:
    """Every claim tested on the data ``inputs`` provides, in declaration order."""
    table = pd.DataFrame([evaluate_claim(claim, claim.data(inputs)) for claim in claims], columns=CLAIM_COLUMNS)
    return table.astype({"replicates_for_80_power": "Int64"})


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
        if pd.isna(row.ci_low):
            detail = f"only {row.n} of the {row.replicates_unit} have a value, too few for a CI."
        elif pd.isna(needed):
            detail = "no effect was observed at all."
        elif needed >= MOST_REPLICATES:
            detail = f"even {MOST_REPLICATES} {row.replicates_unit} would not detect the observed effect reliably."
        else:
            detail = (f"about {int(needed)} {row.replicates_unit} (here {row.replicates}) would detect the observed "
                      "effect with 80% power.")
        lines.append(f"- *{row.statement}*: the data cannot decide; {detail}")
    return "\n".join(lines) + "\n"
