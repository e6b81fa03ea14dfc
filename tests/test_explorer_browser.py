"""The explorer notebook (``notebooks/00_explore.ipynb``) in a real browser, as a user works with
it: its parameters edited, JupyterLab from this environment, *Run All Cells* in headless
Chromium, then controls changed and the panels watched (:mod:`support.browser`, in tests/support/).

The screenshots go to the test's folder and, when ``$SELROB_EXPLORER_SCREENSHOTS`` names a
folder, to that folder too: that is how the committed ones are made.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from support import browser

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "00_explore.ipynb"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(browser.unavailable() is not None, reason=f"browser test: {browser.unavailable()}")]


def edit_parameters(notebook: Path, folder: Path, **values: str) -> Path:
    """``notebook`` copied into ``folder`` with the defaults of its parameters cell replaced by
    ``values`` (Python source), keeping the annotations and comments, as a user edits them."""
    content = json.loads(notebook.read_text(encoding="utf-8"))
    cell = next(c for c in content["cells"] if "parameters" in c["metadata"].get("tags", []))
    source = "".join(cell["source"])
    for name, value in values.items():
        source, count = re.subn(rf"^({name}\s*(?::[^=\n]*)?=\s*)(.*?)(\s*#.*)?$",
                                lambda match: match.group(1) + value + (match.group(3) or ""), source, flags=re.M)
        assert count == 1, f"{notebook.name} has no parameter {name}"
    cell["source"] = source.splitlines(keepends=True)
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / notebook.name
    copy.write_text(json.dumps(content, indent=1), encoding="utf-8")
    return copy


def image(html: str) -> str:
    """The source of the first image in ``html``."""
    match = re.search(r'<img[^>]* src="([^"]+)"', html)
    assert match, f"no image in {html[:200]!r}"
    return match.group(1)


def test_explorer_notebook_in_jupyterlab(explorer_runs: Path, tmp_path: Path) -> None:
    notebook = edit_parameters(NOTEBOOK, tmp_path / "lab", runs_dir=json.dumps(str(explorer_runs)), smoke="True")
    console: list[str] = []
    with browser.jupyter_lab(tmp_path / "lab") as lab, browser.chromium() as chromium:
        page = browser.open_notebook(chromium, lab, notebook, console=console)
        explorer = page.locator(browser.WIDGETS).first

        # The first study: another layer redraws its unit selectivity.
        assert browser.dropdown(page, "study").input_value() == "selectivity"
        panel = ".selrob-panel-selectivity"
        before = browser.output_html(page, panel)
        browser.choose(page, "layer")
        assert image(browser.wait_for_output_change(page, panel, before)) != image(before)
        assert "Not available" not in explorer.inner_text()
        browser.screenshot(page, tmp_path / "explorer_selectivity.png", browser.WIDGETS)

        # The second study, then another unit: its top-activating images are redrawn.
        panel = ".selrob-panel-top_images"
        before = browser.output_html(page, panel)
        browser.choose(page, "study", "shape_bias")
        before = browser.wait_for_output_change(page, panel, before)
        browser.choose(page, "unit")
        assert image(browser.wait_for_output_change(page, panel, before)) != image(before)
        assert "Not available" not in explorer.inner_text()
        browser.screenshot(page, tmp_path / "explorer_shape_bias.png", browser.WIDGETS)

        assert browser.error_outputs(page) == []
        assert console == []
    if os.environ.get("SELROB_EXPLORER_SCREENSHOTS"):
        folder = Path(os.environ["SELROB_EXPLORER_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("explorer_selectivity.png", "explorer_shape_bias.png"):
            shutil.copyfile(tmp_path / name, folder / name)
