"""Real-browser harness: JupyterLab started the way ``make lab`` starts it, driven by headless Chromium.

- :func:`require_browser_tools` finds chromium, chromedriver and selenium; it skips the
  test with the reason when one is missing, or fails when ``CI=true`` or
  ``COURSEKIT_REQUIRE_BROWSER=1`` (``.ci/run`` sets the latter).
- :class:`LabServer` (a context manager) runs ``jupyter lab`` from a course folder with the
  virtualenv's ``bin/`` first on PATH, a free port, a token, no browser, the shipped role
  configuration (``jupyter/<role>/`` on ``JUPYTER_CONFIG_PATH``) and private config,
  data, runtime and settings folders under a temporary folder, so the user's own Jupyter
  configuration is never read or written. It waits until the server answers and always
  stops it (and every kernel it started), also when a test fails.
- :class:`Lab` holds the helpers that drive one page: open a notebook, run all cells,
  read the cells' prompts and outputs, click menus. Every wait is a ``WebDriverWait`` on
  a condition of the page; nothing passes because time went by.

Timeouts are generous: CI has two loaded cores and TensorFlow takes seconds to import.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ROLES = ("student", "instructor")
START_TIMEOUT = 300.0  # seconds until the server answers (one boot took ~50 s at nice 19, load 10)
KERNEL_TIMEOUT = 240.0  # seconds for a kernel to start and run a notebook
PORT_ATTEMPTS = 3  # a free port taken by another process before the server binds it: take another
#: what jupyter_server logs when the port was taken (its own check; its later bind)
PORT_TAKEN = ("is already in use", "is not available", "Address already in use")

# JupyterLab settings of the harness only: no autosave (the copies stay as they were), every
# cell kept in the DOM (windowing off), no network calls for news or the extension manager.
HARNESS_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}
# Variables of the test session that a student's JupyterLab would not have.
_SESSION_PREFIXES = ("COURSEKIT_", "TF_", "JUPYTER", "JPY_", "MPLBACKEND", "PYTEST_")
_KEEP = ("COURSEKIT_MNIST_DIR", "COURSEKIT_FASHION_MNIST_DIR", "COURSEKIT_CACHE_DIR")


def browser_required() -> bool:
    """True when missing browser tools must fail the run (``CI=true`` or ``COURSEKIT_REQUIRE_BROWSER=1``)."""
    return (os.environ.get("CI", "").strip().lower() == "true"
            or os.environ.get("COURSEKIT_REQUIRE_BROWSER", "").strip() == "1")


@dataclass(frozen=True)
class BrowserTools:
    """Paths of the browser binary and its driver."""

    chromium: str
    chromedriver: str


def find_browser_tools() -> tuple[BrowserTools | None, list[str]]:
    """Look for chromium, chromedriver and selenium; return the tools (or None) and what is missing."""
    missing = []
    chromium = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    chromedriver = shutil.which("chromedriver")
    if chromium is None:
        missing.append("chromium (Debian: apt-get install chromium)")
    if chromedriver is None:
        missing.append("chromedriver (Debian: apt-get install chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    if missing:
        return None, missing
    return BrowserTools(chromium, chromedriver), []  # type: ignore[arg-type]


def require_browser_tools() -> BrowserTools:
    """The browser tools, or skip (fail under CI / ``COURSEKIT_REQUIRE_BROWSER=1``) naming what is missing."""
    tools, missing = find_browser_tools()
    if tools is None:
        message = "real-browser test needs " + ", ".join(missing) + " (.ci/apt-packages installs them)"
        if browser_required():
            pytest.fail(message + "; CI=true or COURSEKIT_REQUIRE_BROWSER=1 makes this a failure")
        pytest.skip(message)
    return tools


def start_chromium(tools: BrowserTools, width: int = 1500, height: int = 1100) -> Any:
    """A headless Chromium (``--no-sandbox``: CI runs as root) driven through chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = tools.chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.set_capability("unhandledPromptBehavior", "accept")  # "leave the page?" while navigating
    driver = webdriver.Chrome(options=options, service=Service(executable_path=tools.chromedriver))
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(60)
    return driver


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def copy_course(dest: Path, parts: list[str]) -> Path:
    """Copy the named files and folders of the repository into ``dest`` (a scratch course); return it.

    The browser tests run Validate (which saves the notebook) and create a gradebook: on a
    copy, the repository's files and its ``gradebook.db`` are never touched.
    """
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")
    for part in parts:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=ignore)
        else:
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)
    return dest


class LabServer:
    """``jupyter lab`` from ``root`` with the ``role``'s shipped configuration (a context manager).

    Parameters
    ----------
    root : Path
        The folder JupyterLab serves and runs in (``--notebook-dir``, as ``make lab`` does).
    role : str
        ``"student"`` or ``"instructor"``: ``jupyter/<role>/`` goes on ``JUPYTER_CONFIG_PATH``.
    work : Path
        A private folder for the server's config, data, runtime and settings folders and its log.
    quick : bool
        Set ``COURSEKIT_QUICK=1`` for the kernels.
    """

    def __init__(self, root: Path, role: str, work: Path, quick: bool = True) -> None:
        if role not in ROLES:
            raise ValueError(f"LabServer: role must be one of {ROLES}, got {role!r}")
        self.root, self.role, self.work, self.quick = Path(root), role, Path(work), quick
        self.port = 0
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.work / "jupyter-lab.log"

    # -- environment and command ---------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The server's environment: what ``make lab`` gives it, plus private Jupyter folders."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SESSION_PREFIXES) or k in _KEEP}
        env["PATH"] = str(VENV_BIN) + os.pathsep + env.get("PATH", "")
        env["JUPYTER_CONFIG_PATH"] = str(ROOT / "jupyter" / self.role)
        env["JUPYTER_CONFIG_DIR"] = str(self.work / "config")
        env["JUPYTER_DATA_DIR"] = str(self.work / "data")
        env["JUPYTER_RUNTIME_DIR"] = str(self.work / "runtime")
        env["JUPYTERLAB_SETTINGS_DIR"] = str(self.work / "config" / "lab" / "user-settings")
        env["JUPYTERLAB_WORKSPACES_DIR"] = str(self.work / "config" / "lab" / "workspaces")
        env["IPYTHONDIR"] = str(self.work / "ipython")
        if self.quick:
            env["COURSEKIT_QUICK"] = "1"
        return env

    def command(self) -> list[str]:
        """``make lab``'s command line plus the harness's port, token and no-browser options."""
        return [str(VENV_BIN / "jupyter"), "lab", f"--notebook-dir={self.root}", "--no-browser",
                "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}", "--LabApp.expose_app_in_browser=True",
                "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly",
                *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])]  # CI runs as root

    def _write_settings(self) -> None:
        settings = self.work / "config" / "lab" / "user-settings"
        for plugin, values in HARNESS_SETTINGS.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf-8")

    # -- life cycle ----------------------------------------------------------------------
    def __enter__(self) -> LabServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait until ``/api/status`` answers (fails with the log's tail)."""
        for sub in ("config", "data", "runtime", "ipython"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        self._write_settings()
        for attempt in range(PORT_ATTEMPTS):
            if self._start_on_a_free_port(last=attempt == PORT_ATTEMPTS - 1):
                return

    def _start_on_a_free_port(self, last: bool) -> bool:
        """Start on a port free a moment ago; False if something else took it meanwhile.

        Another suite on the same machine may bind the port between :func:`free_port` and the
        server's own bind (``port_retries=0`` makes the server exit saying so): then the caller
        picks another port. Any other exit, or the last attempt's, fails with the log's tail.
        """
        self.port = free_port()
        log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self._log = log
        self.proc = subprocess.Popen(self.command(), cwd=self.root, env=self.env(), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                self.stop()
                if not last and any(why in self.log_text() for why in PORT_TAKEN):
                    return False
                raise RuntimeError(f"jupyter lab exited with status {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, _ = self.get("api/status")
                if status == 200:
                    return True
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"jupyter lab did not answer within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")
            time.sleep(0.5)  # polling interval while the server starts, not a pass criterion

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and any kernel it left behind."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=30)
        for pid in self._leftover_kernels():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()

    def _leftover_kernels(self) -> list[int]:
        """PIDs of processes whose command line names this server's runtime folder (its kernels)."""
        marker = str(self.work / "runtime")
        found = []
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and int(entry.name) != os.getpid():
                found.append(int(entry.name))
        return found

    # -- talking to it -------------------------------------------------------------------
    def url(self, path: str = "lab") -> str:
        """The address of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def get(self, path: str, method: str = "GET") -> tuple[int, str]:
        """(HTTP status, body) of a request with the token (no exception for 4xx/5xx)."""
        request = urllib.request.Request(self.url(path), method=method,
                                         headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode("utf-8", "replace")

    def shutdown_kernels(self) -> None:
        """Close every session and shut down every kernel (frees CPU and memory between tests)."""
        for kind in ("sessions", "kernels"):
            status, body = self.get(f"api/{kind}")
            if status == 200:
                for item in json.loads(body):
                    self.get(f"api/{kind}/{item['id']}", method="DELETE")

    def log_text(self) -> str:
        """Everything the server has written so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the server's log."""
        return "\n".join(self.log_text().splitlines()[-lines:])


# JavaScript run in the page: the current notebook's cells as the student sees them (outputs from
# the DOM; the execution count from the cell's model, since a cell whose input is collapsed has
# no prompt in the DOM).
_CELLS_JS = r"""
const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
if (!w || !w.content || !w.content.widgets) { return null; }
return w.content.widgets.map(cell => {
  const node = cell.node, code = cell.model.type === 'code';
  return {
    code: code,
    count: code ? cell.model.executionCount : null,
    running: code && cell.model.executionState === 'running',
    stderr: [...node.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
              .map(e => e.textContent),
    errors: [...node.querySelectorAll('[data-mime-type="application/vnd.jupyter.error"]')].map(e => e.textContent),
    images: [...node.querySelectorAll('.jp-OutputArea-output img')].map(i => [i.complete, i.naturalWidth]),
  };
});
"""
# The current document's state from JupyterLab itself (exposed by --LabApp.expose_app_in_browser).
_DOC_JS = r"""
const app = window.jupyterapp;
const w = app && app.shell.currentWidget;
if (!w || !w.context) { return null; }
const s = w.sessionContext, k = s && s.session && s.session.kernel;
const md = w.context.model.getMetadata ? w.context.model.getMetadata('language_info') : null;
return {path: w.context.path, dirty: w.context.model.dirty, kernel: k ? k.status : null,
        language_info: md || null};
"""


class Lab:
    """Helpers that drive JupyterLab pages of one :class:`LabServer` in one browser."""

    def __init__(self, driver: Any, server: LabServer) -> None:
        self.driver, self.server = driver, server

    def wait(self, condition: Callable[[Any], Any], timeout: float, message: str) -> Any:
        """Wait until ``condition(driver)`` is truthy; fail with ``message`` and the server log's tail."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.25).until(condition)
        except TimeoutException:
            shot = self.server.work / f"failed-{time.strftime('%H%M%S')}.png"
            try:
                self.driver.save_screenshot(str(shot))
            except Exception:  # the screenshot is a debugging aid only
                shot = None
            pytest.fail(f"{message} (waited {timeout:.0f} s; screenshot: {shot})\n--- page text ---\n"
                        f"{self.page_text()[-2000:]}\n--- server log ---\n{self.server.log_tail(30)}")

    def open_lab(self, path: str = "") -> None:
        """Load JupyterLab (``lab/tree/<path>`` when given) with a fresh workspace; wait until it is up."""
        self.discard_changes()
        self.driver.get(self.server.url(f"lab/tree/{path}" if path else "lab") + f"?reset&token={self.server.token}")
        self.wait(lambda d: d.execute_script("return !!(window.jupyterapp && "
                                             "document.querySelector('#jp-top-panel .lm-MenuBar-content'))"),
                  START_TIMEOUT, "JupyterLab did not load")

    def discard_changes(self) -> None:
        """Mark the open documents unmodified (nothing is saved), so leaving the page asks nothing."""
        try:
            self.driver.execute_script(
                "if (window.jupyterapp) { for (const w of window.jupyterapp.shell.widgets('main')) {"
                "  if (w.context && w.context.model) { w.context.model.dirty = false; } } }")
        except Exception:  # no page loaded yet (about:blank) or a page without JupyterLab
            pass

    def doc_state(self) -> dict[str, Any] | None:
        """Path, dirty flag, kernel status and language_info of the current document."""
        return self.driver.execute_script(_DOC_JS)

    def open_notebook(self, path: str, n_cells: int) -> dict[str, Any]:
        """Open ``path``; wait until its ``n_cells`` cells are shown and its kernel is idle; return doc_state."""
        self.open_lab(path)

        def ready(d: Any) -> Any:
            state = self.doc_state()
            cells = d.execute_script(_CELLS_JS)
            if state and state["path"] == path and state["kernel"] == "idle" and cells and len(cells) == n_cells:
                return state
            return None

        return self.wait(ready, KERNEL_TIMEOUT, f"{path} did not open with an idle kernel and {n_cells} cells")

    def tab_is_dirty(self, name: str) -> bool:
        """Whether the main-area tab titled ``name`` shows the modified (dirty) indicator."""
        return bool(self.driver.execute_script(
            "return [...document.querySelectorAll('.lm-DockPanel-tabBar .lm-TabBar-tab')]"
            ".some(t => t.textContent.trim() === arguments[0] && t.classList.contains('jp-mod-dirty'));", name))

    def tab_titles(self) -> list[str]:
        """Titles of the main-area tabs."""
        return self.driver.execute_script(
            "return [...document.querySelectorAll('.lm-DockPanel-tabBar .lm-TabBar-tab')]"
            ".map(t => t.textContent.trim());")

    def cells(self) -> list[dict[str, Any]]:
        """The current notebook's cells: code?, count, running?, stderr and error texts, (complete, naturalWidth) of images."""
        return self.driver.execute_script(_CELLS_JS) or []

    def menu_bar(self) -> list[str]:
        """The labels of the main menu bar."""
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#jp-top-panel .lm-MenuBar-itemLabel')]"
            ".map(e => e.textContent.trim());")

    def click_menu(self, menu: str, label: str) -> None:
        """Open the main menu ``menu`` and click its item labelled ``label``, as a student does."""
        from selenium.webdriver.common.by import By

        items = self.driver.find_elements(By.CSS_SELECTOR, "#jp-top-panel .lm-MenuBar-item")
        item = next((i for i in items if i.text.strip() == menu), None)
        assert item is not None, f"no {menu!r} menu in the menu bar: {self.menu_bar()}"
        item.click()

        def entry(d: Any) -> Any:
            for e in d.find_elements(By.CSS_SELECTOR, ".lm-Menu .lm-Menu-item"):
                labels = e.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel")
                if labels and labels[0].text.strip() == label and e.is_displayed():
                    return e
            return None

        self.wait(entry, 30, f"menu {menu!r} has no item {label!r}").click()

    def run_all(self, n_code: int, timeout: float = KERNEL_TIMEOUT) -> list[dict[str, Any]]:
        """Run > Run All Cells; wait until every code cell has an execution count and the kernel is idle."""
        self.click_menu("Run", "Run All Cells")

        def finished(_d: Any) -> Any:
            cells = self.cells()
            code = [c for c in cells if c["code"]]
            state = self.doc_state()
            done = (len(code) == n_code and all(isinstance(c["count"], int) and not c["running"] for c in code)
                    and state is not None and state["kernel"] == "idle")
            return cells if done else None

        return self.wait(finished, timeout, f"Run All did not finish ({n_code} code cells)")

    def page_text(self) -> str:
        """The visible text of the whole page."""
        try:
            return self.driver.execute_script("return document.body ? document.body.innerText : ''") or ""
        except Exception:  # a page that is navigating away has no body to read
            return ""

    def console_messages(self) -> list[str]:
        """The browser console's messages since the last call."""
        return [entry.get("message", "") for entry in self.driver.get_log("browser")]
