"""Notebook parameters checked as strictly as the command line: the first code cell of every
numbered notebook calls :func:`notebook_parameters`.

The declared parameters are read from the notebook's own ``parameters`` cell (``name: "type" =
default  # help``, the form papermill parses). Values are converted to the declared type, in the
forms papermill users type (``-p alpha -1``, ``-p seeds '[1, 2]'``, ``-p seeds 0-2``, ``-y 'seeds: [1]'``);
a value that does not convert, or a parameter the notebook does not declare (``-p alpah -1``),
raises one :class:`SelrobError` naming the parameter, the value and what is allowed, which is the
last line papermill prints.

:meth:`NotebookParameters.figure_name` names a figure by every parameter that changes what it
shows, so that only the default parameters write the canonical figures.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from selrob import paths
from selrob.arguments import overrides_from_flags
from selrob.errors import SelrobError
from selrob.io import short_hash
from selrob.progress import use_text_bars

#: Parameters that say where figures go or what runs them, not what a figure shows.
NOT_IN_FIGURES = frozenset({"figures_dir", "device"})
#: Folder parameters: another folder than the default one is other data (compared resolved).
FOLDERS = {"runs_dir": paths.runs_dir, "data_dir": paths.data_dir}
#: Parameters every figure name carries in its fixed part (dataset, arch; alpha and smoke when set).
IN_EVERY_NAME = frozenset({"dataset", "arch", "alpha", "smoke"})
#: The parameter that selects runs trained with other settings than the preset, written as
#: ``selrob sweep``'s flags (``-p training "--epochs 3 --max-train-samples 5000"``).
TRAINING = "training"
_LONGEST_READABLE = 40


@dataclass(frozen=True)
class Declared:
    """One parameter of a notebook's parameters cell."""

    name: str
    kind: str
    default: Any
    help: str


def declared_parameters(notebook: str) -> dict[str, Declared]:
    """The parameters ``notebooks/<notebook>.ipynb`` declares, in order."""
    path = paths.notebooks_dir() / f"{notebook}.ipynb"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    source = next("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    comments = {number: line.partition("#")[2].strip() for number, line in enumerate(source.splitlines(), 1)}
    declared = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            annotation = node.annotation
            kind = annotation.value if isinstance(annotation, ast.Constant) else ast.unparse(annotation)
            declared[node.target.id] = Declared(node.target.id, str(kind), ast.literal_eval(node.value),
                                                comments.get(node.lineno, ""))
    return declared


def _optional(kind: str) -> tuple[bool, str]:
    match = re.fullmatch(r"Optional\[(.*)\]", kind)
    return (True, match.group(1)) if match else (False, kind)


def _scalar(value: Any, kind: str, name: str) -> Any:
    def fail(allowed: str) -> SelrobError:
        return SelrobError(f"parameter {name} = {value!r} is not {allowed}")

    if kind == "str":
        if not isinstance(value, str):
            raise fail("a string")
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise fail("True or False")
    if isinstance(value, bool):
        raise fail("a number" if kind == "float" else "an integer")
    if kind == "int":
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
        raise fail("an integer")
    if kind == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise fail("a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise fail("a finite number")
        return number
    raise SelrobError(f"parameter {name} has a type selrob cannot check: {kind}")


def _items(value: Any, item: str) -> list[Any]:
    """A list parameter from what papermill passes: a list, one value, or text such as
    ``[1, 2]``, ``1,2``, ``1 2`` or (for integers) ``0-2``."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if not isinstance(value, str):
        return [value]
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            if item != "str" or not text.endswith("]"):
                raise SelrobError(f"{value!r} is not a list") from None
            text = text[1:-1]  # names without quotes, as shells pass them: [alexnet_small, resnet20]
        else:
            return list(parsed) if isinstance(parsed, (list, tuple)) else [parsed]
    parts = [part for part in re.split(r"[,\s]+", text) if part]
    if item == "int" and len(parts) == 1 and re.fullmatch(r"\d+-\d+", parts[0]):
        first, last = map(int, parts[0].split("-"))
        if last < first:
            raise SelrobError(f"{value!r} is an empty range")
        return list(range(first, last + 1))
    return parts


def convert(value: Any, declared: Declared) -> Any:
    """``value`` as the declared type, or a :class:`SelrobError` saying what is allowed."""
    optional, kind = _optional(declared.kind)
    if value is None or (optional and isinstance(value, str) and value.strip() in ("None", "null", "")):
        if optional:
            return None
        raise SelrobError(f"parameter {declared.name} = None is not allowed; give a {kind}")
    match = re.fullmatch(r"list\[(.*)\]", kind)
    if match is None:
        return _scalar(value, kind, declared.name)
    item = match.group(1)
    try:
        items = _items(value, item)
        converted = [_scalar(entry, item, declared.name) for entry in items]
    except SelrobError as err:
        raise SelrobError(f"parameter {declared.name} = {value!r} is not a {kind} ({err}); "
                          f"write it like [1, 2] or 1,2") from None
    if not converted:
        raise SelrobError(f"parameter {declared.name} = {value!r} is an empty list")
    return converted


def _injected_cells(namespace: MutableMapping[str, Any]) -> list[str]:
    """The injected-parameters cells papermill ran (IPython keeps executed cells in ``In``)."""
    return [cell for cell in namespace.get("In", []) or [] if isinstance(cell, str)
            and cell.lstrip().startswith("# Parameters")]


def _assigned_names(cell: str) -> list[str]:
    try:
        tree = ast.parse(cell)
    except SyntaxError:
        return []
    return [target.id for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)]


@dataclass(frozen=True)
class NotebookParameters:
    """The checked values of one notebook's parameters and their declarations."""

    notebook: str
    values: dict[str, Any]
    declared: dict[str, Declared]

    def _is_default(self, name: str, value: Any) -> bool:
        if name in FOLDERS:
            return FOLDERS[name](value) == FOLDERS[name](None)
        return value == self.declared[name].default

    @property
    def overrides(self) -> dict[str, Any]:
        """The training overrides of the ``training`` parameter (none when the notebook has none)."""
        text = self.values.get(TRAINING)
        return {} if text is None else overrides_from_flags(text)

    def non_default(self) -> dict[str, Any]:
        """Parameters that change what figures show and differ from their defaults (each
        ``training`` flag as ``train_<setting>``: notebook 03's ``pgd_steps`` is the attack's)."""
        values = {name: value for name, value in self.values.items()
                  if name not in NOT_IN_FIGURES | IN_EVERY_NAME | {TRAINING} and not self._is_default(name, value)}
        return {**{f"train_{name}": value for name, value in self.overrides.items()}, **values}

    def figure_name(self, figure: str, arch: str | None = None) -> str:
        """``<figure>_<dataset>_<arch>`` with ``_alpha<a>`` and ``_smoke`` when set, then one
        ``_<parameter>-<value>`` part (or a short hash of a long value) per other non-default
        parameter: a file name that no other choice of parameters writes."""
        parts = [figure, str(self.values["dataset"]), str(arch or self.values.get("arch"))]
        if self.values.get("alpha") is not None:
            parts.append("alpha" + "+".join(_text(a) for a in sorted({float(a) for a in self.values["alpha"]})))
        if self.values.get("smoke"):
            parts.append("smoke")
        for name, value in self.non_default().items():
            items = value if isinstance(value, list) else [value]
            text = "-".join(_text(item) for item in items)
            # Readable when unambiguous: short, and no item itself holding the separator.
            if len(text) > _LONGEST_READABLE or name in FOLDERS or not all(re.fullmatch(r"[\w.]+", _text(item))
                                                                          for item in items):
                text = short_hash(json.dumps(value))
            parts.append(f"{name}-{text}")
        return "_".join(parts)


def _text(value: Any) -> str:
    """A value in a file name: floats exactly (``repr``: ``0.1``; ``-1.0`` as ``-1``), others as text."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _non_interactive(namespace: MutableMapping[str, Any]) -> bool:
    """True in a kernel that papermill or nbclient drives (they never allow input; JupyterLab does)."""
    get_ipython = namespace.get("get_ipython")
    kernel = getattr(get_ipython(), "kernel", None) if callable(get_ipython) else None
    return kernel is not None and not getattr(kernel, "_allow_stdin", True)


def notebook_parameters(notebook: str, namespace: MutableMapping[str, Any]) -> NotebookParameters:
    """Check the parameters of ``notebook`` in ``namespace`` (the notebook's ``globals()``),
    replace each by its converted value there, and return them."""
    declared = declared_parameters(notebook)
    injected = _injected_cells(namespace)
    if injected or _non_interactive(namespace):
        use_text_bars()  # executed by papermill: widgets would be placeholders in the output notebook
    unknown = [name for cell in injected for name in _assigned_names(cell) if name not in declared]
    if unknown:
        raise SelrobError(f"unknown parameter {unknown[0]!r} for {notebook}; it takes: {', '.join(declared)}")
    values = {}
    for name, declaration in declared.items():
        values[name] = convert(namespace.get(name, declaration.default), declaration)
        namespace[name] = values[name]
    if values.get(TRAINING) is not None:
        overrides_from_flags(values[TRAINING])  # bad training flags: one error here, before any work
    return NotebookParameters(notebook, values, declared)
