"""The front door and the generated documents: the README stays short, its links resolve, and the
notebook table, docs/figures.md, the benchmark index and the manifest's "made by" record agree
with the studies' figure registries (selrob.studies.docs)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from selrob.evaluations.registry import registered_evaluations
from selrob.pipeline import report
from selrob.pipeline.figures import FIXED, PER_ARCH, PER_PAIRS, Figure, figure_of, made_by
from selrob.studies import docs, studies

REPO = Path(__file__).resolve().parents[1]


def test_the_readme_is_a_front_door_of_at_most_250_lines() -> None:
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


def test_every_relative_link_of_the_readme_and_docs_resolves() -> None:
    pages = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (page.parent / target.split("#")[0]).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert not broken


def test_the_generated_documents_agree_with_the_registries() -> None:
    assert docs.update_documents(write=False) == [], "run `selrob docs` and commit what it writes"


def _copy_of_the_documents(root: Path) -> Path:
    for name in ("README.md", str(docs.FIGURES_DOC), str(docs.BENCHMARKS_DOC), str(docs.ARCHITECTURE_DOC),
                 str(docs.NOTEBOOKS_DOC), "figures/manifest.json"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)
    docs.update_documents(root)  # current, whatever the repository's state: this test is about hand edits
    return root


@pytest.mark.parametrize("edit", ["notebook table", "figures doc", "made by"])
def test_a_document_edited_by_hand_is_found_and_rewritten(tmp_path: Path, edit: str) -> None:
    root = _copy_of_the_documents(tmp_path)
    if edit == "notebook table":
        readme = root / "README.md"
        readme.write_text(readme.read_text(encoding="utf-8").replace("| selectivity |", "| shape_bias |", 1),
                          encoding="utf-8")
    elif edit == "figures doc":
        (root / docs.FIGURES_DOC).write_text("# Figures\n", encoding="utf-8")
    else:
        manifest = root / "figures" / report.MANIFEST
        manifest.write_text(re.sub(r'"notebook": "09_shape_bias"', '"notebook": "10_distorted_images"',
                                   manifest.read_text(encoding="utf-8"), count=1), encoding="utf-8")
    assert len(docs.update_documents(root, write=False)) == 1
    assert len(docs.update_documents(root)) == 1
    assert docs.update_documents(root, write=False) == []


def test_every_figure_reads_registered_evaluations_and_backs_its_own_studys_claims() -> None:
    evaluations = set(registered_evaluations())
    for study in studies().values():
        notebooks = {notebook.stem for notebook in study.notebooks}
        keys = {claim.key for claim in study.declared_claims()}
        ids = [figure.id for figure in study.figures]
        assert len(set(ids)) == len(ids), study.name
        for figure in study.figures:
            assert figure.notebook in notebooks, figure.id
            assert set(figure.evaluations) <= evaluations, figure.id
            assert set(figure.claims) <= keys, figure.id


def test_each_notebook_shows_the_claims_of_its_figures() -> None:
    study = studies()["shape_bias"]
    assert study.notebook_claims("11_smoothness") == ("kernel_smoothness", "noise_blocking")
    assert study.notebook_claims("13_channel_ablation") == ("texture_unit_bias", "texture_unit_rate_bias")


def test_a_file_belongs_to_the_figure_with_the_longest_id_that_draws_it() -> None:
    figures = [Figure("figA11a_layer_selectivity", "01", "A11a", "t"),
               Figure("figA11a_layer_selectivity_augmix", "06", "A11a", "t", claims=("augmix",)),
               Figure("table2_shape_bias", "09", "Table 2", "t", per=PER_PAIRS),
               Figure("fig_world_gallery_shapes_32px", "09", "-", "t", per=FIXED)]
    assert figure_of("figA11a_layer_selectivity_digits_resnet20.png", figures) is figures[0]
    assert figure_of("figA11a_layer_selectivity_augmix_digits_resnet20_alpha-1.pdf", figures) is figures[1]
    assert figure_of("fig_world_gallery_shapes_32px.png", figures) is figures[3]
    assert figure_of("fig_world_gallery_shapes_32px_smoke.png", figures) is None  # a fixed name has no parts
    assert figure_of("figA11a_layer_selectivity.png", figures) is None  # a per-arch figure always has parts
    assert figure_of("claims_selectivity.md", figures) is None
    assert made_by(["figA11a_layer_selectivity_augmix_digits_resnet20.png", "claims_selectivity.md"], figures) == {
        "figA11a_layer_selectivity_augmix_digits_resnet20.png": {"figure": "figA11a_layer_selectivity_augmix",
                                                                  "notebook": "06", "claims": ["augmix"]}}
    with pytest.raises(ValueError, match="per must be"):
        Figure("x", "01", "-", "t", per="model")
    assert PER_ARCH == Figure("x", "01", "-", "t").per


def test_every_committed_figure_was_made_by_a_registered_figure() -> None:
    manifest = report.read_manifest(REPO / "figures")
    record = report.read_made_by(REPO / "figures")
    figures = sorted(name for name in manifest if name.endswith(report.FIGURE_SUFFIXES))
    assert figures and sorted(record) == figures, "run `make reproduce` and commit figures/ (the manifest too)"
    drawn = {entry["figure"] for entry in record.values()}
    # Every figure a study draws on its embedded dataset whatever the data is committed.
    missing = {figure.id for study in studies().values() for figure in study.figures
               if figure.always_drawn_on(study.datasets[0])} - drawn
    assert not missing, f"{', '.join(sorted(missing))}: run `make reproduce` and commit figures/ (the manifest too)"


def test_figures_lists_each_study_and_refuses_an_unknown_one() -> None:
    from selrob.errors import SelrobError

    listing = docs.figure_listing("selectivity")
    assert "fig2ab_fgsm_pgd_accuracy" in listing and "claims: fgsm, pgd" in listing and "table2" not in listing
    with pytest.raises(SelrobError, match="unknown study 'nope'"):
        docs.figure_listing("nope")
