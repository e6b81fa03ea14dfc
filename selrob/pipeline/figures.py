"""What a study's figure is: which notebook draws it, which paper figure it reproduces, which
evaluations it reads and which claims back it (:class:`Figure`), and which figure a file in the
figures folder is (:func:`figure_of`).

The studies declare their figures (``selrob.studies.<study>_figures``); from those declarations
``selrob docs`` writes the README's notebook table and ``docs/figures.md``, and ``selrob
reproduce`` records in ``figures/manifest.json`` which notebook made each file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: How many files one figure writes: one per architecture, one for all pairs, or one fixed name.
PER_ARCH, PER_PAIRS, FIXED = "arch", "pairs", "fixed"


@dataclass(frozen=True)
class Figure:
    """One figure a notebook saves as ``<id>_<dataset>_<arch or "pairs">[_<parameters>].{png,pdf}``
    (:meth:`selrob.notebook_parameters.NotebookParameters.figure_name`), or as ``<id>.{png,pdf}``
    when ``per`` is :data:`FIXED` (a figure no parameter changes)."""

    id: str
    notebook: str
    #: The paper's figure or table it reproduces, e.g. "Fig 1b, A3a".
    paper: str
    #: What it shows, in one line.
    title: str
    #: The cached evaluations it reads (names of :mod:`selrob.evaluations.registry`).
    evaluations: tuple[str, ...] = ()
    #: The keys of the study's claims it shows the data of.
    claims: tuple[str, ...] = ()
    per: str = PER_ARCH
    #: The datasets it is drawn on (empty: every dataset of its study).
    datasets: tuple[str, ...] = ()
    #: When the data decide whether it is drawn ("" when always), e.g. "zeroing the unit flips a decision".
    only_if: str = ""

    def __post_init__(self) -> None:
        if self.per not in (PER_ARCH, PER_PAIRS, FIXED):
            raise ValueError(f"figure {self.id}: per must be {PER_ARCH}, {PER_PAIRS} or {FIXED}, not {self.per!r}")

    def always_drawn_on(self, dataset: str) -> bool:
        """Whether a notebook run on ``dataset`` draws it whatever its data."""
        return not self.only_if and (not self.datasets or dataset in self.datasets)

    def draws(self, stem: str) -> bool:
        """Whether the file ``stem`` (a name without its suffix) is one of this figure's."""
        return stem == self.id if self.per == FIXED else stem.startswith(self.id + "_")


def figure_of(name: str, figures: Iterable[Figure]) -> Figure | None:
    """The figure the file ``name`` (with or without suffix) belongs to: the one with the longest id
    that draws it (``figA11a_layer_selectivity_augmix_...`` is the AugMix figure, not Figure
    A11a's), or ``None``."""
    stem = name.rsplit(".", 1)[0] if name.endswith((".png", ".pdf")) else name
    matches = [figure for figure in figures if figure.draws(stem)]
    return max(matches, key=lambda figure: len(figure.id)) if matches else None


def made_by(names: Sequence[str], figures: Iterable[Figure]) -> dict[str, dict[str, object]]:
    """For each file of ``names`` that a figure draws: its figure id, notebook and claim keys (the
    manifest's "made by" record)."""
    known = tuple(figures)
    records = {}
    for name in names:
        figure = figure_of(name, known)
        if figure is not None:
            records[name] = {"figure": figure.id, "notebook": figure.notebook, "claims": list(figure.claims)}
    return records
