"""Execute the numbered notebooks with papermill (used by ``selrob reproduce`` and the tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selrob import paths
from selrob.errors import SelrobError


#: The explorer's notebook: number 00, outside the studies (it draws no figure of its own).
EXPLORER = "00_explore"
#: The report on a researcher's own model (``-p model NAME``): outside the studies, its plots go
#: to the outputs folder, not among the papers' figures.
MODEL_REPORT = "14_model_report"
#: Numbered notebooks that are tools, not a study's figures.
TOOLS = (EXPLORER, MODEL_REPORT)


def notebook_paths() -> list[Path]:
    """The studies' ``notebooks/NN_<topic>.ipynb`` in number order (not the tools', :data:`TOOLS`)."""
    return sorted(p for p in paths.notebooks_dir().glob("[0-9][0-9]_*.ipynb") if p.stem not in TOOLS)


def kernel_config() -> Any:
    """Kernel settings: its own log kept off the terminal, and its sockets encrypted (CurveZMQ)
    where jupyter_client and pyzmq offer it.

    A kernel logs to the terminal it was started from: a warning for every notebook that it talks
    in plain TCP, and, now and then, an error when jupyter_client's shutdown interrupt lands while
    it answers a message. A failing cell is reported from the notebook, a dead kernel by papermill.
    """
    import zmq
    from jupyter_client import KernelManager
    from traitlets.config import Config

    config = Config({"NotebookClient": {"extra_arguments": ["--IPKernelApp.log_level=CRITICAL"]}})
    if zmq.has("curve") and "transport_encryption" in KernelManager.class_traits():
        config.KernelManager.transport_encryption = "auto"
    return config


def execute_notebook(notebook: Path, output_dir: Path, parameters: dict[str, Any]) -> Path:
    """Run ``notebook`` with ``parameters`` injected; the executed copy goes to ``output_dir``.

    Only the parameters the notebook declares are passed, so one set of pipeline settings
    (``data_dir`` for instance) serves notebooks that use some of them. Raises :class:`SelrobError` naming the failing cell's error and the executed copy to read.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / notebook.name
    declared = papermill.inspect_notebook(str(notebook))
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters={k: v for k, v in parameters.items() if k in declared},
            kernel_name="python3", progress_bar=False, config=kernel_config(),
        )
    except PapermillExecutionError as err:
        raise SelrobError(f"{notebook.name} failed: {err.ename}: {err.evalue} (see {output})") from None
    return output
