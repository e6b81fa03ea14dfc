"""Architecture specs of researchers' own models: ``torchvision:NAME``, ``timm:NAME`` (the ``timm``
extra) or ``path/to/file.py:FACTORY`` (the user's own code), and the network each one builds.

Only the architecture comes from code; the weights are read as untrusted data
(:mod:`selrob.user_models.weights`). A user's file is imported as a module (its folder first on
``sys.path``, so that it can import its neighbours): it is their code, not a downloaded checkpoint.
Its SHA-256 is recorded; a registered model whose file changed is refused until it is added again
(:mod:`selrob.user_models.store`), since results cached for the old code would no longer be its.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import nn

from selrob.data.download import file_digest
from selrob.errors import SelrobError

#: The kinds of spec: what comes before the colon (a file's spec has its path there).
KINDS = ("torchvision", "timm")
SPEC_FORMS = "torchvision:NAME, timm:NAME or path/to/file.py:FACTORY"


@dataclass(frozen=True)
class ArchSpec:
    """An architecture: ``kind`` (torchvision, timm or file), the model or factory ``name`` and, for
    a file, its absolute ``path`` and the SHA-256 of its contents (``code``)."""

    kind: str
    name: str
    path: str | None = None
    code: str | None = None

    @property
    def text(self) -> str:
        """The spec as written back (a file's path absolute)."""
        return f"{self.path}:{self.name}" if self.kind == "file" else f"{self.kind}:{self.name}"

    @property
    def label(self) -> str:
        """Its short name in tables (the ``arch`` column): ``resnet18``, ``my_cnn.py:make``."""
        return f"{Path(self.path).name}:{self.name}" if self.path is not None else self.name


def parse_spec(text: str) -> ArchSpec:
    """The :class:`ArchSpec` written ``text``; a relative file path resolves from the working
    directory (it is the user's own argument). One line naming the forms when it is none of them."""
    where, colon, name = text.rpartition(":")
    if not colon or not where or not re.fullmatch(r"[\w.\-]+", name):
        raise SelrobError(f"unknown architecture spec {text!r}; write {SPEC_FORMS}")
    if where in KINDS:
        return ArchSpec(where, name)
    if not where.endswith(".py"):
        raise SelrobError(f"unknown architecture spec {text!r}: {where!r} is neither {' nor '.join(KINDS)} nor a "
                          f".py file; write {SPEC_FORMS}")
    if not name.isidentifier():
        raise SelrobError(f"architecture spec {text!r}: {name!r} is not a Python function name")
    path = Path(where).expanduser().resolve()
    if not path.is_file():
        raise SelrobError(f"architecture spec {text!r}: the file {path} does not exist")
    return ArchSpec("file", name, str(path), file_digest(path, "sha256"))


def call_factory(factory: Callable[..., Any], num_classes: int) -> Any:
    """``factory(num_classes=...)`` if it takes that argument, else ``factory()``."""
    try:
        takes_classes = "num_classes" in inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        takes_classes = False
    return factory(num_classes=num_classes) if takes_classes else factory()


def _torchvision(name: str) -> Callable[[int], nn.Module]:
    from torchvision import models

    if name not in models.list_models():
        raise SelrobError(f"torchvision has no model {name!r}; see torchvision.models.list_models() "
                          f"(e.g. resnet18, vgg11_bn, convnext_tiny)")
    return lambda num_classes: models.get_model(name, weights=None, num_classes=num_classes)


def _timm(name: str) -> Callable[[int], nn.Module]:
    try:
        import timm
    except ImportError:
        raise SelrobError(f"timm:{name} needs timm, which is not installed: pip install 'selrob[timm]'") from None
    if name.split(".")[0] not in timm.list_models():  # "resnet50.a1_in1k": an architecture and its weights' tag
        raise SelrobError(f"timm has no model {name!r}; see timm.list_models()")
    return lambda num_classes: timm.create_model(name, pretrained=False, num_classes=num_classes)


@functools.lru_cache(maxsize=None)
def _import_file(path: str, code: str) -> ModuleType:
    """The user's file as a module, imported once per process and version (``code``, its SHA-256),
    with its folder first on ``sys.path`` meanwhile, so that it can import the modules beside it."""
    module_name = f"selrob_user_model_{code[:16]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None  # a .py file always has a loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look their module up here
    sys.path.insert(0, str(Path(path).parent))
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:  # the user's code may raise anything, or exit
        del sys.modules[module_name]
        raise SelrobError(f"importing {path} raised {type(err).__name__}: {err}") from None
    finally:
        sys.path.remove(str(Path(path).parent))
    return module


def _file_factory(spec: ArchSpec) -> Callable[[int], nn.Module]:
    assert spec.path is not None and spec.code is not None  # parse_spec sets both for a file
    factory = getattr(_import_file(spec.path, spec.code), spec.name, None)
    if not callable(factory):
        raise SelrobError(f"{spec.path} has no function {spec.name!r} to build the model with")
    return lambda num_classes: call_factory(factory, num_classes)


def build_network(spec: ArchSpec, num_classes: int) -> nn.Module:
    """The network ``spec`` builds, randomly initialised: torchvision's and timm's for
    ``num_classes`` classes; a file's factory called with ``num_classes=`` if it takes that
    argument, else with none (:func:`call_factory`). Anything it raises, or a result that is not an
    ``nn.Module``, is one line."""
    builder = _file_factory(spec) if spec.kind == "file" else {"torchvision": _torchvision, "timm": _timm}[spec.kind](spec.name)
    try:
        network = builder(num_classes)
    except (Exception, SystemExit) as err:  # the factory is the user's code, or a library's builder given bad options
        raise SelrobError(f"building {spec.text} raised {type(err).__name__}: {err}") from None
    if not isinstance(network, nn.Module):
        raise SelrobError(f"{spec.text} returned {type(network).__name__}, not a torch.nn.Module")
    return network
