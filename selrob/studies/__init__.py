"""Studies: each paper's models, evaluation plan, notebooks and summary (a
:class:`~selrob.pipeline.reproduce.Study`), run by ``selrob reproduce --study NAME``."""

from __future__ import annotations

from selrob.errors import SelrobError
from selrob.pipeline.reproduce import ReproduceOptions, Study


def studies() -> dict[str, Study]:
    """Every study by name, in reproduce order."""
    from selrob.studies.bridge import BRIDGE
    from selrob.studies.selectivity import SELECTIVITY
    from selrob.studies.shape_bias import SHAPE_BIAS

    return {study.name: study for study in (SELECTIVITY, SHAPE_BIAS, BRIDGE)}


def select_studies(name: str, dataset: str | None = None) -> list[Study]:
    """The study ``name``, or every study for ``all``; with a ``dataset``, those of them whose
    claims can be tested on it (one line naming each study's datasets when none can)."""
    known = studies()
    if name != "all" and name not in known:
        raise SelrobError(f"unknown study {name!r}; choose all or one of: {', '.join(known)}")
    chosen = list(known.values()) if name == "all" else [known[name]]
    if dataset is None:
        return chosen
    fitting = [study for study in chosen if dataset in study.datasets]
    if not fitting:
        each = "; ".join(f"{study.name} on {', '.join(study.datasets)}" for study in chosen)
        raise SelrobError(f"{'no study has' if name == 'all' else f'study {name} has no'} claims on dataset "
                          f"{dataset!r}: {each}")
    return fitting


def study_of_notebook(stem: str) -> Study:
    """The study whose notebooks include ``stem``."""
    for study in studies().values():
        if any(notebook.stem == stem for notebook in study.notebooks):
            return study
    raise SelrobError(f"no study has a notebook {stem!r}")


def notebook_findings(stem: str, options: ReproduceOptions, dataset: str, every_claim: bool = False) -> str:
    """The markdown claims report a notebook shows beside its figures: the claims backing notebook
    ``stem``'s figures (:meth:`Study.notebook_claims`), or every claim of its study."""
    study = study_of_notebook(stem)
    return study.claims(options, dataset, None if every_claim else study.notebook_claims(stem))[1]
