"""Claims a reader can trust: each finding of a paper declared with the statistic that tests it and
the direction the paper reports, and its verdict computed from the runs.

A claim's ``data`` gives one row per run (or per pair of runs) with the columns its statistic
reads:

* :class:`Trend` - the least-squares slope of ``y`` against ``x`` (e.g. against alpha) over one
  row per run, with its t 95% CI (:func:`selrob.stats.slope_ci`);
* :class:`PairedDifference` - the mean of per-seed (or per-run) differences ``y``, with its t 95%
  CI (:func:`selrob.stats.mean_difference_ci`).

The verdict is *supports* when the CI excludes 0 in the paper's direction, *contradicts* when it
excludes 0 the other way, *inconclusive* when it includes 0. A two-sided question (one neither
paper asks, ``direction`` 0) is answered with the word for the side the CI lies on (``answers``,
e.g. "more" / "less"), or *inconclusive*. Each claim is tested at the 5% level on its own (no
correction for testing many). For an inconclusive claim the table also gives the replicates
(seeds per level, or pairs) that would detect the observed effect with 80% power at the observed
spread: the evidence a decision would need.

Every verdict is also tested for fragility. It is *fragile* when

* leaving out one replicate (one seed of a trend: its runs at every level; one row of a paired
  difference: a pair, or a run) changes it (:func:`leave_one_out`), or
* a spread within the 80% confidence interval of the observed one would change it at the same
  effect (:func:`at_the_edge`): with 2-4 replicates the spread is what they estimate worst, and
  another machine's networks move it as much as the effect.

The first needs the replicates' values; the second only a claims file's effect, CI and rows, so
it can be checked on any claims file (:func:`fragile_rows`).
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
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Trend:
    """The slope of ``y`` against ``x`` over the rows of a claim's data; ``replicate`` names the
    column whose values are the replicates (a seed's runs at every level of ``x``)."""

    x: str
    y: str = "value"
    replicate: str = "seed"

    def estimate(self, frame: pd.DataFrame) -> tuple[float, float, float]:
        if frame[self.x].nunique() < 2 or self.replicates(frame) < 2:
            raise SelrobError(f"a slope against {self.x} needs two or more levels with two or more runs each, "
                              f"got {frame.groupby(self.x).size().to_dict()}")
        return slope_ci(frame[self.x].to_numpy(), frame[self.y].to_numpy(), CONFIDENCE)

    def replicates(self, frame: pd.DataFrame) -> int:
        """Rows per level of ``x`` (the smallest level)."""
        return int(frame.groupby(self.x).size().min())

    def left_out(self, frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
        """Per replicate, its name and the frame without its rows."""
        if self.replicate not in frame:
            raise SelrobError(f"a trend's data needs its replicate column {self.replicate!r}, got {list(frame.columns)}")
        return [(f"{self.replicate} {value}", frame[frame[self.replicate] != value])
                for value in sorted(frame[self.replicate].unique())]

    def degrees_of_freedom(self, rows: float) -> float:
        return rows - 2

    def describe(self) -> str:
        return f"slope vs {self.x}"

    def replicates_unit(self) -> str:
        return f"seeds per {self.x}"


#: Columns that name a row of a paired difference when one is left out (those the frame has).
_ROW_NAMES = ("arch", "alpha", "seed", "pgd_steps")


@dataclass(frozen=True)
class PairedDifference:
    """The mean of the per-pair differences ``y`` (one row per pair). With ``some_pairs_lack_it``
    a pair may have no value (e.g. a model without a texture unit has no texture-unit bias): with
    fewer than two pairs left the CI is undefined and the claim inconclusive, not an error.
    ``what`` names the statistic (default: "mean paired ``y``") and ``rows`` what a row is
    (default: a pair)."""

    y: str = "difference"
    some_pairs_lack_it: bool = False
    what: str | None = None
    rows: str = "pairs"

    def estimate(self, frame: pd.DataFrame) -> tuple[float, float, float]:
        if len(frame) < 2:
            if self.some_pairs_lack_it:
                return float(frame[self.y].mean()) if len(frame) else math.nan, math.nan, math.nan
            raise SelrobError(f"a paired difference needs two or more pairs, got {len(frame)}")
        return mean_difference_ci(frame[self.y].to_numpy(), CONFIDENCE)

    def replicates(self, frame: pd.DataFrame) -> int:
        return len(frame)

    def left_out(self, frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
        """Per row, its name (its arch, alpha, seed and PGD steps where the frame has them) and the frame without it."""
        named = [column for column in _ROW_NAMES if column in frame]
        return [(" ".join(f"{column} {frame.at[index, column]}" for column in named) or f"row {position}",
                 frame.drop(index=index)) for position, index in enumerate(frame.index)]

    def degrees_of_freedom(self, rows: float) -> float:
        return rows - 1

    def describe(self) -> str:
        return self.what or f"mean paired {self.y}"

    def replicates_unit(self) -> str:
        return self.rows


Statistic = Trend | PairedDifference


@dataclass(frozen=True)
class Claim:
    """One finding: ``statement`` as the paper reports it, in ``figures``; ``direction`` is the
    sign the paper reports for the statistic, or 0 for a two-sided question whose ``answers``
    name the positive and the negative side; ``data(inputs)`` returns its rows."""

    key: str
    statement: str
    figures: str
    statistic: Statistic
    direction: int
    data: Callable[[Any], pd.DataFrame]
    unit: str = ""
    answers: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if (self.direction == 0) != (self.answers is not None):
            raise SelrobError(f"claim {self.key}: a two-sided question (direction 0) names its two answers, "
                              "a one-sided claim none")


def verdict(low: float, high: float, direction: int, answers: tuple[str, str] | None = None) -> str:
    """:data:`SUPPORTS`, :data:`CONTRADICTS` or :data:`INCONCLUSIVE` from a CI and the paper's sign;
    for a two-sided question (``direction`` 0), the answer of the side the CI lies on."""
    if low > 0 or high < 0:
        if direction == 0:
            assert answers is not None
            return answers[0] if low > 0 else answers[1]
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


def _estimate_or_undecided(statistic: Statistic, frame: pd.DataFrame) -> tuple[float, float, float]:
    try:
        return statistic.estimate(frame)
    except SelrobError:  # too few replicates left for an interval: nothing is decided
        return math.nan, math.nan, math.nan


def leave_one_out(claim: Claim, frame: pd.DataFrame) -> list[str]:
    """The replicates whose omission changes ``claim``'s verdict on ``frame`` (leaving too few for
    an interval counts as inconclusive)."""
    effect, low, high = _estimate_or_undecided(claim.statistic, frame)
    decided = verdict(low, high, claim.direction, claim.answers)
    return [name for name, rest in claim.statistic.left_out(frame)
            if verdict(*_estimate_or_undecided(claim.statistic, rest)[1:], claim.direction, claim.answers) != decided]


#: The confidence of the interval of the spread (the standard error) that :func:`at_the_edge` tries.
SPREAD_CONFIDENCE = 0.80


def at_the_edge(effect: float, low: float, high: float, rows: int, statistic: Statistic,
                spread_confidence: float = SPREAD_CONFIDENCE) -> bool:
    """Whether some standard error within the 80% confidence interval of the standard error
    would give another verdict at the same effect: a decided verdict that the interval's upper
    end would leave undecided, or an undecided one its lower end would decide. The interval is
    the chi-square one of a normal spread with the t interval's degrees of freedom (3 for 4
    pairs: 0.69 to 2.27 times the observed spread). Needs only what a claims file holds."""
    from scipy import stats

    df = statistic.degrees_of_freedom(rows)
    if df < 1 or not all(math.isfinite(value) for value in (effect, low, high)):
        return False
    critical = stats.t.ppf((1 + CONFIDENCE) / 2, df)
    standard_error = (high - low) / 2 / critical
    if standard_error <= 0:
        return False
    tail = (1 - spread_confidence) / 2
    t_statistic = abs(effect) / standard_error
    if low > 0 or high < 0:  # decided: would the largest plausible spread undecide it?
        return t_statistic / math.sqrt(df / stats.chi2.ppf(tail, df)) < critical
    return t_statistic / math.sqrt(df / stats.chi2.ppf(1 - tail, df)) > critical


#: How a ``fragile_because`` reason names the replicates whose omission changes the verdict (rule 1).
LEFT_OUT_REASON = "changes without"

CLAIM_COLUMNS = ["claim", "statement", "figures", "statistic", "effect", "ci_low", "ci_high", "unit", "n",
                 "replicates", "replicates_unit", "verdict", "replicates_for_80_power", "fragile", "fragile_because", "answers"]


def fragility(claim: Claim, frame: pd.DataFrame, effect: float, low: float, high: float) -> str:
    """Why ``claim``'s verdict on ``frame`` is fragile ("" when it is not): the replicates whose
    omission changes it (:func:`leave_one_out`), and whether it is :func:`at_the_edge`."""
    reasons = []
    flipped = leave_one_out(claim, frame)
    if flipped:
        reasons.append(f"{LEFT_OUT_REASON} {'' if len(flipped) == 1 else 'any one of '}" + ", ".join(flipped))
    if at_the_edge(effect, low, high, len(frame), claim.statistic):
        reasons.append(f"a spread within its {SPREAD_CONFIDENCE:.0%} interval would change it")
    return "; ".join(reasons)


def evaluate_claim(claim: Claim, frame: pd.DataFrame) -> dict[str, Any]:
    """One row of the claims table: the statistic on ``frame``, its CI, the verdict and its fragility."""
    effect, low, high = claim.statistic.estimate(frame)
    replicates = claim.statistic.replicates(frame)
    decided = verdict(low, high, claim.direction, claim.answers)
    because = fragility(claim, frame, effect, low, high)
    return {
        "claim": claim.key, "statement": claim.statement, "figures": claim.figures,
        "statistic": claim.statistic.describe(), "effect": effect, "ci_low": low, "ci_high": high,
        "unit": claim.unit, "n": len(frame), "replicates": replicates,
        "replicates_unit": claim.statistic.replicates_unit(), "verdict": decided,
        "replicates_for_80_power": (replicates_for_power(effect, low, high, replicates)
                                    if decided == INCONCLUSIVE else None),
        "fragile": bool(because), "fragile_because": because,
        "answers": " / ".join(claim.answers) if claim.answers else "",
    }


def fragile_rows(table: pd.DataFrame, spread_confidence: float = SPREAD_CONFIDENCE) -> pd.Series:
    """Per row of a claims table (e.g. a committed claims CSV): whether :func:`at_the_edge` flags it.
    The statistic is read from its description: a trend's is "slope vs X" (:meth:`Trend.describe`)."""
    return pd.Series([at_the_edge(row.effect, row.ci_low, row.ci_high, int(row.n),
                                  Trend("x") if str(row.statistic).startswith("slope vs ") else PairedDifference(),
                                  spread_confidence)
                      for row in table.itertuples()], index=table.index, dtype=bool)


def claims_table(claims: Sequence[Claim], inputs: Any) -> pd.DataFrame:
    """Every claim tested on the data ``inputs`` provides, in declaration order."""
    table = pd.DataFrame([evaluate_claim(claim, claim.data(inputs)) for claim in claims], columns=CLAIM_COLUMNS)
    return table.astype({"replicates_for_80_power": "Int64"})


def _number(value: float) -> str:
    return f"{value:.3g}"


def _verdict_cell(row: Any) -> str:
    return f"**{row.verdict}**" + (" (fragile)" if row.fragile else "")


_COUNTED = {SUPPORTS: "supported", CONTRADICTS: "contradicted", INCONCLUSIVE: "inconclusive"}


def verdict_counts(table: pd.DataFrame) -> str:
    """"Of N claims: k supported (r robust, f fragile), ...": the one-sided verdicts where the table
    has one-sided claims, each answer of its two-sided questions that some question got, then the
    inconclusive ones, with how many of each are robust and how many fragile."""
    one_sided = (table["answers"].fillna("") == "").any()
    answered = [v for v in table["verdict"] if v not in _COUNTED]
    order = [*((SUPPORTS, CONTRADICTS) if one_sided else ()), *dict.fromkeys(answered), INCONCLUSIVE]
    parts = []
    for name in order:
        rows = table[table["verdict"] == name]
        fragile = int(rows["fragile"].sum())
        split = f" ({len(rows) - fragile} robust, {fragile} fragile)" if len(rows) else ""
        parts.append(f"{len(rows)} {_COUNTED.get(name, name)}{split}")
    return f"Of {len(table)} claims: {', '.join(parts)}."


def claims_markdown(table: pd.DataFrame, preamble: Sequence[str]) -> str:
    """The claims table as markdown: ``preamble`` lines, one row per claim, then the counts, the
    fragile verdicts and why, and for inconclusive claims the replicates a decision would need."""
    lines = [*preamble, "", "| claim | paper | statistic | effect [95% CI] | unit | n | verdict |",
             "|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.statement} | {row.figures} | {row.statistic} | {_number(row.effect)} "
                     f"[{_number(row.ci_low)}, {_number(row.ci_high)}] | {row.unit} | {row.n} | {_verdict_cell(row)} |")
    lines += ["", verdict_counts(table)]
    if table["fragile"].any():
        lines.append(f"A verdict is fragile when leaving out one replicate changes it, or when a standard error within "
                     f"the {SPREAD_CONFIDENCE:.0%} chi-square interval of the observed one would (docs/protocol.md, "
                     "Fragile verdicts).")
    for row in table[table["fragile"]].itertuples():
        lines.append(f"- *{row.statement}*: **{row.verdict}** is fragile: {row.fragile_because}.")
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


def claims_summary(table: pd.DataFrame, full_report: str) -> str:
    """The short form the README shows: one row per claim (statement, effect [95% CI], verdict),
    the counts, and a link to the full report (``full_report``, a relative path)."""
    lines = ["| claim | effect [95% CI] | verdict |", "|---|---|---|"]
    lines += [f"| {row.statement} | {_number(row.effect)} [{_number(row.ci_low)}, {_number(row.ci_high)}] | "
              f"{_verdict_cell(row)} |" for row in table.itertuples()]
    lines += ["", f"{verdict_counts(table)} Statistics, units, why each fragile verdict is fragile and the seeds "
                  f"a decision would need: [{full_report}]({full_report})."]
    return "\n".join(lines) + "\n"
