"""Studies: each paper's models, evaluation plan, notebooks and summary (a
:class:`~selrob.pipeline.reproduce.Study`), run by ``selrob reproduce --study NAME``."""

from __future__ import annotations

from selrob.errors import SelrobError
from selrob.pipeline.reproduce import Study


def studies() -> dict[str, Study]:
    """Every study by name, in reproduce order."""
    from selrob.studies.selectivity import SELECTIVITY
    from selrob.studies.shape_bias import SHAPE_BIAS

    return {study.name: study for study in (SELECTIVITY, SHAPE_BIAS)}


def select_studies(name: str) -> list[Study]:
    """The study ``name``, or every study for ``all``."""
    known = studies()
    if name == "all":
        return list(known.values())
    if name not in known:
        raise SelrobError(f"unknown study {name!r}; choose all or one of: {', '.join(known)}")
    return [known[name]]
