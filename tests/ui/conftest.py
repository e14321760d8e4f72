"""Browser tests: a real JupyterLab on loopback and Debian's chromium driven by Playwright.

Run by `bash .ci/run` (README.md, top); what they check: README.md, "In JupyterLab". Screenshots: test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.servers import free_port, wait_until_answers

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
BUILT_EXTENSION = REPO / "jupyter_tracker" / "labextension"


@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    """Neutralise pytest-jupyter's autouse event loop for sync Playwright tests."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed; run `bash .ci/run`, which installs it")
    return {**browser_type_launch_args, "executable_path": executable,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1100}}


def serve_this_build(root: Path, env: dict, copy: bool = False) -> Path | None:
    """Put this checkout's build of the extension first on ``env``'s JUPYTER_PATH (the first
    labextensions path wins over the copy pip made at install time, so a rebuild is tested without
    reinstalling); returns where it is served from, or None when nothing is built. ``copy`` for a
    server that refuses symlinked files (Voilà answers 403)."""
    if not (BUILT_EXTENSION / "package.json").exists():
        return None
    served = root / "jupyter" / "labextensions" / "jupyter-tracker"
    served.parent.mkdir(parents=True)
    if copy:
        shutil.copytree(BUILT_EXTENSION, served)
    else:
        served.symlink_to(BUILT_EXTENSION, target_is_directory=True)
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root / "jupyter"), os.environ.get("JUPYTER_PATH")]))
    return served


@contextmanager
def serving(command: list[str], *, env: dict, cwd: Path, log_path: Path, ready_url: str,
            timeout: float) -> Iterator[subprocess.Popen]:
    """A server process, its output in ``log_path``, once ``ready_url`` answers; stopped on exit."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            wait_until_answers(ready_url, timeout=timeout, process=proc, output=log_path)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1: yields (base_url, token, notebook_dir, store_dir)."""
    root = tmp_path_factory.mktemp("lab")
    notebook_dir = root / "notebooks"
    notebook_dir.mkdir()
    store_dir = root / "store"
    settings_dir = root / "settings"
    notification = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = free_port()
    token = "jt-test-token"
    env = {**os.environ, "JUPYTER_TRACKER_DIR": str(store_dir), "JUPYTERLAB_SETTINGS_DIR": str(settings_dir)}
    serve_this_build(root, env)
    base_url = f"http://127.0.0.1:{port}"
    with serving(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={notebook_dir}", f"--LabApp.workspaces_dir={root / 'workspaces'}",
         f"--LabApp.user_settings_dir={settings_dir}",
         # an editable install has no etc/jupyter config: enable the REST API explicitly
         "--ServerApp.jpserver_extensions=jupyter_tracker=True"],
            env=env, cwd=notebook_dir, log_path=root / "lab.log", ready_url=f"{base_url}/api/status?token={token}",
            timeout=90):
        yield base_url, token, notebook_dir, store_dir


def open_and_run_all(page, base_url: str, token: str, notebook_name: str):
    """Open a notebook in a fresh workspace and Run All; returns the visible notebook panel."""
    from playwright.sync_api import expect

    stem = notebook_name.removesuffix(".ipynb")
    page.goto(f"{base_url}/lab/workspaces/{stem}/tree/{notebook_name}?token={token}&reset")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(page.locator(".jp-StatusBar-Widget", has_text="| Idle").first).to_be_visible(timeout=60000)
    first_prompt = panel.locator(".jp-InputArea-prompt").first
    for _ in range(3):
        page.click("li.lm-MenuBar-item:has-text('Run')")
        page.click("li.lm-Menu-item[data-command='runmenu:run-all']")
        try:
            expect(first_prompt).not_to_have_text("[ ]:", timeout=5000)
            return panel
        except AssertionError:
            page.keyboard.press("Escape")
    raise AssertionError("Run All did not start executing")


def change_theme(page, theme: str) -> None:
    """Pick a JupyterLab theme from the Settings menu and wait until the page has redrawn in it."""
    from playwright.sync_api import expect

    page.click("li.lm-MenuBar-item:has-text('Settings')")
    page.hover("li.lm-Menu-item:has-text('Theme')")
    page.click(f"li.lm-Menu-item[data-command='apputils:change-theme']:has-text('{theme}')")
    expect(page.locator(f"body[data-jp-theme-name='{theme}']")).to_be_attached(timeout=30000)
    expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=30000)


def luminance(css_color: str) -> float:
    """Relative brightness 0..1 of a computed ``rgb(...)`` colour, to check a theme's text is readable."""
    red, green, blue = (float(part) for part in re.findall(r"[\d.]+", css_color)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


def screenshot(page, name: str) -> Path:
    """Save a screenshot under test-artifacts/ (look at it) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
