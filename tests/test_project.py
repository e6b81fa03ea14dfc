"""Project conventions: pip and conda environments in sync, CI calls the README's test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch", "py-opencv": "opencv-python-headless"}  # conda-forge name -> PyPI name
PIP_ONLY = {"potracer"}  # not on conda-forge: environment.yml installs them with pip


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
            requirement = stripped[2:].split("#")[0].strip()
            if requirement == "-e .":
                pip_lines.append(requirement)
            else:
                name, version = _requirement(requirement)
                assert name in PIP_ONLY, f"{name} is on conda-forge: list it under dependencies"
                conda_side[name] = version
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
    commands = re.findall(r"^(make \w+)(?:\s+#.*)?$", readme, flags=re.MULTILINE)
    assert commands[:2] == ["make reproduce", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()


#: The package's layers, lowest first: a module imports only from its own layer or lower ones.
LAYERS = [
    {"errors", "io", "paths", "device", "stats", "parallel", "progress"},
    {"data"},
    {"models", "corruptions", "attacks", "distortions"},
    {"config", "measures"},
    {"arguments", "store", "zoo", "user_models"},
    {"evaluations", "training"},
    {"tables", "plotting", "notebook_parameters"},
    {"pipeline", "explorer"},
    {"studies"},
    {"cli", "commands", "__main__", "selrob"},
]


def _imports_by_part() -> dict[str, set[str]]:
    """For each top-level module or subpackage of ``selrob``, the others it imports (lazily too)."""
    import ast

    def part(module: str) -> str:
        pieces = module.split(".")
        return pieces[1] if len(pieces) > 1 else "selrob"

    graph: dict[str, set[str]] = {}
    for path in (REPO / "selrob").rglob("*.py"):
        pieces = path.relative_to(REPO).with_suffix("").parts
        source = part(".".join(pieces[:-1] if pieces[-1] == "__init__" else pieces))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("selrob"):
                # "from selrob import x" imports module x, or a name of the package itself.
                targets = ([f"selrob.{alias.name}" if (REPO / "selrob" / alias.name).exists()
                            or (REPO / "selrob" / f"{alias.name}.py").exists() else "selrob" for alias in node.names]
                           if node.module == "selrob" else [node.module])
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name.startswith("selrob")]
            else:
                continue
            graph.setdefault(source, set()).update(part(t) for t in targets if part(t) != source)
    return graph


def test_modules_import_only_their_own_layer_or_lower_ones() -> None:
    rank = {name: index for index, layer in enumerate(LAYERS) for name in layer}
    graph = _imports_by_part()
    assert set(graph) <= set(rank), f"add {sorted(set(graph) - set(rank))} to LAYERS"
    upward = sorted(f"{source} -> {target}" for source, targets in graph.items() for target in targets
                    if rank[target] > rank[source])
    assert upward == []


def test_every_module_imports() -> None:
    import importlib
    import pkgutil

    import selrob

    for module in pkgutil.walk_packages(selrob.__path__, "selrob."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
