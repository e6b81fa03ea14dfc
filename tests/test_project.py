"""Project conventions: pip and conda environments in sync, CI calls the README's test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch", "py-opencv": "opencv-python-headless"}  # conda-forge name -> PyPI name


def _requirement(spec: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    assert match, spec
    return match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip_side = dict(_requirement(s) for s in project["dependencies"] + project["optional-dependencies"]["dev"])
    conda_side = {}
    pip_lines = []
    section = None
    for line in (REPO / "environment.yml").read_text().splitlines():
        stripped = line.strip()
        if not line.startswith(" ") and stripped.endswith(":"):
            section = stripped[:-1]  # top-level key: name, channels, dependencies
            continue
        if stripped == "- pip:":
            section = "pip"
            continue
        if section == "pip" and stripped.startswith("- "):
            pip_lines.append(stripped[2:].split("#")[0].strip())
        if section != "dependencies" or not stripped.startswith("- "):
            continue
        name, version = _requirement(stripped[2:])
        if name not in ("python", "pip"):
            conda_side[CONDA_NAMES.get(name, name)] = version
    assert conda_side == pip_side
    assert pip_lines == ["-e ."]  # options such as --no-deps are not valid in a requirements list


def test_make_installs_the_attack_peer_without_its_dependencies() -> None:
    # torchattacks 3.5.1 pins requests~=2.25, which Jupyter's server rejects; its other needs are ours.
    assert re.search(r"pip install [-\w ]*--no-deps torchattacks==3\.5\.1", (REPO / "Makefile").read_text())


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"^(make \w+)$", readme, flags=re.MULTILINE)
    assert commands[:2] == ["make reproduce", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()
