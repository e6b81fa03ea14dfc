"""Drive the project's notebooks in a real browser: JupyterLab started from this environment and
headless Chromium (Debian's, through Playwright), for end-to-end tests of the interactive notebooks
(``tests/test_explorer_browser.py``) and their screenshots: test code, outside the package.

Playwright is imported inside the functions that use it, so this module imports without it;
:func:`unavailable` says why the browser cannot be driven here. Playwright's own browser downloads
are never used: Chromium is ``$SELROB_CHROMIUM`` or Debian's ``/usr/bin/chromium``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

#: Debian's Chromium (package ``chromium``); ``$SELROB_CHROMIUM`` names another.
CHROMIUM = "/usr/bin/chromium"
#: Headless Chromium as root on a closed network: no sandbox (root), no GPU, and none of the
#: background connections that a machine without internet refuses.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")
#: JupyterLab settings for a fresh, unattended session: no news or update toasts over the
#: notebook, and every cell attached to the page so that all of them can be found and waited on.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
#: What a write to stderr and the traceback of a failed cell render as (JupyterLab's red box;
#: JupyterLab renders an error output under the stderr mime type, the error type is for others).
ERROR_OUTPUTS = ('.jp-OutputArea-output:is([data-mime-type="application/vnd.jupyter.stderr"], '
                 '[data-mime-type="application/vnd.jupyter.error"])')
#: What the widget manager shows in place of a widget it cannot render.
WIDGET_ERROR = "Error displaying widget"
#: The views of ipywidgets, once the widget manager has rendered them; the first is the outermost.
WIDGETS = ".jp-OutputArea-output .jupyter-widgets"
#: The status bar's kernel item of the open notebook: "<kernel name> | <status>".
KERNEL_STATUS = '#jp-main-statusbar .jp-StatusBar-TextItem[title^="Change kernel"]'
#: Height (pixels) that JupyterLab's menu, tab, toolbar and status bars take, with room to spare.
LAB_BARS = 300
#: The open notebook (JupyterLab keeps other tabs' panels in the page, hidden).
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def chromium_path() -> Path:
    """The Chromium executable to drive: ``$SELROB_CHROMIUM`` or Debian's."""
    return Path(os.environ.get("SELROB_CHROMIUM") or CHROMIUM)


def unavailable() -> str | None:
    """Why notebooks cannot be driven in a browser here (Playwright or Chromium missing), or
    None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    chromium = chromium_path()
    if not os.access(chromium, os.X_OK):
        return f"no Chromium at {chromium} (apt-get install chromium, or set SELROB_CHROMIUM)"
    return None


@dataclass(frozen=True)
class JupyterLab:
    """A running JupyterLab server: where it listens, its token and the folder it serves."""

    url: str
    token: str
    root: Path
    log: Path

    def path(self, notebook: str | Path) -> str:
        """``notebook`` (a path below :attr:`root`) as JupyterLab names it."""
        return Path(notebook).resolve().relative_to(self.root.resolve()).as_posix()

    def notebook_url(self, notebook: str | Path) -> str:
        """The address that opens ``notebook`` (a path below :attr:`root`) in JupyterLab."""
        return f"{self.url}lab/tree/{quote(self.path(notebook))}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


@contextmanager
def jupyter_lab(root: str | Path, env: Mapping[str, str] | None = None, timeout: float = 60.0) -> Iterator[JupyterLab]:
    """JupyterLab from this environment (``sys.executable -m jupyter lab``) serving ``root`` on
    127.0.0.1, on a free port with a random token, until the block ends.

    Its runtime, config and data folders are temporary, so the user's settings, workspaces and
    kernel specs play no part (the kernel is this environment's ipykernel); the environment,
    updated with ``env``, is passed through to it and its kernels (``SELROB_*`` folders included).
    """
    root = Path(root).resolve()
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="selrob-lab-") as home:
        jupyter = {name: Path(home) / folder for name, folder in
                   (("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"))}
        for name, settings in LAB_SETTINGS.items():
            path = jupyter["JUPYTER_CONFIG_DIR"] / "lab" / "user-settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings))
        port = _free_port()
        url = f"http://127.0.0.1:{port}/"
        log = Path(home) / "jupyter-lab.log"
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                   f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                   f"--ServerApp.root_dir={root}", "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
                   "--LabApp.expose_app_in_browser=True"]  # window.jupyterapp: see _track_kernel
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # CI runs as root
        with log.open("wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env={**os.environ, **(env or {}), **{k: str(v) for k, v in jupyter.items()}})
        try:
            _wait_until_serving(process, f"{url}api/status?token={token}", log, timeout)
            yield JupyterLab(url, token, root, log)
        finally:
            process.terminate()  # the server shuts its kernels down on SIGTERM
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_serving(process: subprocess.Popen[bytes], status: str, log: Path, timeout: float) -> None:
    local = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}:\n{_log_tail(log)}")
        try:
            with local.open(status, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet
        time.sleep(0.2)
    raise TimeoutError(f"JupyterLab did not answer within {timeout:g} s:\n{_log_tail(log)}")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium (:func:`chromium_path`) driven by Playwright, with a temporary profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_path()), headless=True,
                                             args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


class NotebookError(RuntimeError):
    """A cell of the notebook failed, or wrote to stderr, when it was run in the browser."""


def open_notebook(browser: Browser, lab: JupyterLab, notebook: str | Path, console: list[str] | None = None,
                  width: int = 1500, height: int = 1300, timeout: float = 120.0) -> Page:
    """``notebook`` (below ``lab.root``) opened in a new ``width`` x ``height`` page, all its cells
    run from JupyterLab's menu (*Run > Run All Cells*), as a user would: returns the page once the
    kernel is idle and the cells' ipywidgets are rendered.

    Raises :class:`NotebookError` with the error outputs when a cell fails or writes to stderr.
    The page's console errors and uncaught exceptions are appended to ``console`` as they come.
    ``timeout`` (seconds) bounds each wait, and later ones on the page.
    """
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(timeout * 1000)
    if console is not None:
        page.on("console", lambda message: console.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: console.append(f"uncaught: {error}"))
    page.goto(lab.notebook_url(notebook))
    _wait_for_kernel(page)
    _track_kernel(page, lab.path(notebook))
    # Numbered prompts are what tells cells that ran: clear the ones a saved notebook may carry.
    _menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(f"""() => [...document.querySelectorAll('{NOTEBOOK} .jp-CodeCell .jp-InputPrompt')]
                                     .every(prompt => !/\\d/.test(prompt.textContent))""")
    _menu(page, "Run", "Run All Cells")
    # Done when no cell is queued or running ([*]) and every cell with code has run ([n]) or one
    # failed (Run All stops there).
    page.wait_for_function(f"""() => {{
        const cells = [...document.querySelectorAll('{NOTEBOOK} .jp-CodeCell')]
            .filter(cell => cell.querySelector('.jp-InputArea-editor').textContent.trim() !== '');
        const prompts = cells.map(cell => cell.querySelector('.jp-InputPrompt').textContent);
        if (prompts.some(prompt => prompt.includes('*'))) return false;
        return prompts.every(prompt => /\\d/.test(prompt)) || document.querySelector('{NOTEBOOK} {ERROR_OUTPUTS}') !== null;
    }}""")
    wait_for_idle(page)
    errors = error_outputs(page)
    if errors:
        raise NotebookError(f"{notebook} failed in JupyterLab:\n" + "\n\n".join(errors))
    page.locator(f"{NOTEBOOK} {WIDGETS}").first.wait_for(state="visible")
    return page


def _menu(page: Page, menu: str, item: str) -> None:
    page.get_by_role("menuitem", name=menu, exact=True).click()
    page.get_by_role("menuitem", name=item, exact=True).click()


def _wait_for_kernel(page: Page) -> None:
    # JupyterLab's status bar: the toolbar's indicator also reads idle while no kernel is attached.
    page.wait_for_function(f"""() => {{
        const status = document.querySelector('{KERNEL_STATUS}')?.textContent ?? '';
        return status.endsWith('| Idle') && !status.startsWith('No Kernel');
    }}""")


def _track_kernel(page: Page, path: str) -> None:
    """Keep, in the page, the requests sent to the open notebook's kernel that it has not finished
    handling (``selrobPending``), and when the notebook's DOM last changed (``selrobChanged``).

    The kernel's status (the status bar) cannot tell: while a widget's callback runs, the kernel
    also handles the messages that widgets send back (an Output widget syncing what it captured),
    and reports idle after each of them (seen with ipykernel 7).
    """
    page.evaluate("""([notebook, path]) => {
        const widget = [...window.jupyterapp.shell.widgets('main')].find(w => w.context?.path === path);
        const kernel = widget.sessionContext.session.kernel;
        const pending = window.selrobPending = new Set();
        kernel.anyMessage.connect((_, {msg, direction}) => {
            if (direction === 'send' && msg.channel === 'shell') {
                pending.add(msg.header.msg_id);
            } else if (msg.channel === 'iopub' && msg.header.msg_type === 'status'
                       && msg.content.execution_state === 'idle') {
                pending.delete(msg.parent_header.msg_id);
            }
        });
        const panel = document.querySelector(notebook);
        window.selrobChanged = performance.now();
        new MutationObserver(() => { window.selrobChanged = performance.now(); })
            .observe(panel, {subtree: true, childList: true, attributes: true, characterData: true});
    }""", [NOTEBOOK, path])


def wait_for_idle(page: Page, quiet: float = 0.3) -> None:
    """Wait until the kernel of the notebook that :func:`open_notebook` opened has handled every
    request sent to it (cells run, widgets changed) and the notebook's DOM has not changed for
    ``quiet`` seconds (outputs are rendered asynchronously, after the kernel is done)."""
    page.evaluate("() => { window.selrobChanged = performance.now(); }")
    page.wait_for_function("""quiet => window.selrobPending.size === 0
                                       && performance.now() - window.selrobChanged >= quiet""", arg=quiet * 1000)


def dropdown(page: Page, description: str) -> Locator:
    """The ``<select>`` of the ipywidgets Dropdown whose description is ``description``."""
    return page.locator(f"{NOTEBOOK} {WIDGETS} select").and_(page.get_by_label(description, exact=True))


def choose(page: Page, description: str, option: str | None = None) -> str:
    """Choose ``option`` (its label) in the Dropdown ``description``, or, when None, the option
    after the chosen one (the first after the last): returns the label chosen."""
    select = dropdown(page, description)
    if option is None:
        labels = select.locator("option").all_inner_texts()
        if len(labels) < 2:
            raise ValueError(f"the {description} dropdown offers {labels}: nothing else to choose")
        current = select.evaluate("select => select.selectedIndex")
        option = labels[(current + 1) % len(labels)]
    select.select_option(label=option)  # fires the change event the widget listens to
    return option


def output_html(page: Page, selector: str) -> str:
    """What the output areas inside the first element matching ``selector`` show (their HTML:
    an image's source is in it); empty when it has none."""
    return str(page.evaluate("""selector => [...(document.querySelector(selector)?.querySelectorAll('.jp-OutputArea') ?? [])]
                                            .map(area => area.innerHTML).join('')""", selector))


def wait_for_output_change(page: Page, selector: str, before: str, timeout: float | None = None) -> str:
    """Wait until the outputs inside ``selector`` show something other than ``before`` (an
    :func:`output_html`) and the kernel is idle again; returns what they show."""
    page.wait_for_function("""([selector, before]) => {
        const html = [...(document.querySelector(selector)?.querySelectorAll('.jp-OutputArea') ?? [])]
            .map(area => area.innerHTML).join('');
        return html !== '' && html !== before;
    }""", arg=[selector, before], timeout=None if timeout is None else timeout * 1000)
    wait_for_idle(page)  # the other outputs that the change redraws have arrived
    return output_html(page, selector)


def error_outputs(page: Page) -> list[str]:
    """The text of every error output, stderr box and widget that failed to render in the page."""
    return list(page.evaluate(f"""() => [
        ...[...document.querySelectorAll('{ERROR_OUTPUTS}')].map(output => output.innerText),
        ...[...document.querySelectorAll('.jp-OutputArea-output')].map(output => output.innerText)
            .filter(text => text.startsWith('{WIDGET_ERROR}')),
    ]"""))


def screenshot(page: Page, path: str | Path, selector: str | None = None) -> Path:
    """A PNG of the page, or of the whole of the first element matching ``selector`` however tall
    it is, at ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if selector is None:
        page.screenshot(path=path, animations="disabled")
        return path
    element = page.locator(selector).first
    viewport = page.viewport_size
    box = element.bounding_box()
    # JupyterLab scrolls the notebook inside a panel the window's size, which clips what lies
    # outside it: while taking the element, make the window taller than it and JupyterLab's bars.
    grow = viewport is not None and box is not None and box["height"] + LAB_BARS > viewport["height"]
    if grow:
        page.set_viewport_size({"width": viewport["width"], "height": int(box["height"]) + LAB_BARS})
    try:
        element.screenshot(path=path, animations="disabled")
    finally:
        if grow:
            page.set_viewport_size(viewport)
    return path
