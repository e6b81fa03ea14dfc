"""Progress bars: widgets in JupyterLab, text in terminals and under papermill.

tqdm's ``auto`` bars are widgets in any Jupyter kernel, including the kernels papermill runs,
where widgets end up as unreadable placeholders in the executed notebook; notebooks executed by
papermill switch to text bars (:func:`use_text_bars`, called by the notebooks' parameter check).
"""

from __future__ import annotations

from typing import Any

import tqdm.auto
import tqdm.std

_text_only = False


def use_text_bars() -> None:
    """From now on, text bars in this process."""
    global _text_only
    _text_only = True


def progress_bar(*args: Any, **kwargs: Any) -> tqdm.std.tqdm:
    """A tqdm bar (same arguments as ``tqdm.tqdm``): a widget in an interactive notebook, else text."""
    bar = tqdm.std.tqdm if _text_only else tqdm.auto.tqdm
    return bar(*args, **kwargs)
