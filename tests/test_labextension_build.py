"""The JupyterLab extension as built by `pip install`: its TypeScript lints and type-checks clean,
its lockfile matches package.json, its version is the Python package's, and the installed
environment has both the lab extension and the server extension enabled."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jupyter_tracker

REPO = Path(__file__).resolve().parent.parent
LABEXTENSION = REPO / "labextension"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def node_tool(name: str) -> Path:
    """A tool npm installed into labextension/node_modules while `pip install` built the extension."""
    tool = LABEXTENSION / "node_modules" / ".bin" / name
    assert tool.exists(), (f"{tool} is missing: `pip install -e .` runs `npm install` and builds the extension "
                           f"(hatch-jupyter-builder); run it again")
    return tool


def run(command: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_typescript_has_no_lint_errors():
    result = run([str(node_tool("eslint")), "--max-warnings", "0", "src"], cwd=LABEXTENSION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_typescript_type_checks():
    result = run([str(node_tool("tsc")), "--noEmit", "-p", "tsconfig.json"], cwd=LABEXTENSION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout


def test_npm_version_and_lockfile_match():
    package = json.loads((LABEXTENSION / "package.json").read_text())
    lock = json.loads((LABEXTENSION / "package-lock.json").read_text())
    assert package["version"] == jupyter_tracker.__version__
    root = lock["packages"][""]
    assert root["dependencies"] == package["dependencies"]
    assert root["devDependencies"] == package["devDependencies"]
    built = json.loads((REPO / "jupyter_tracker" / "labextension" / "package.json").read_text())
    assert built["name"] == "jupyter-tracker" and built["version"] == package["version"]
    assert built["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")


def test_lab_and_server_extensions_are_enabled():
    lab = run([sys.executable, "-m", "jupyter", "labextension", "list"])
    lab_output = ANSI.sub("", lab.stdout + lab.stderr)
    assert re.search(rf"jupyter-tracker v{re.escape(jupyter_tracker.__version__)} enabled\s+OK", lab_output), lab_output

    server = run([sys.executable, "-m", "jupyter", "server", "extension", "list"])
    server_output = ANSI.sub("", server.stdout + server.stderr)
    assert re.search(r"jupyter_tracker enabled", server_output), server_output
    assert re.search(rf"jupyter_tracker {re.escape(jupyter_tracker.__version__)} OK", server_output), server_output


def test_settings_schema_declares_the_cell_toolbar_button_and_settings():
    schema = json.loads((LABEXTENSION / "schema" / "plugin.json").read_text())
    assert {"refreshInterval", "keyMetricCount", "keyMetrics", "pageSize", "activeRunInterval"} <= set(
        schema["properties"])
    assert schema["jupyter.lab.toolbars"]["Cell"][0]["command"] == "jupyter-tracker:track-cell"
    installed = REPO / "jupyter_tracker" / "labextension" / "schemas" / "jupyter-tracker" / "plugin.json"
    assert json.loads(installed.read_text()) == schema


def test_the_settings_defaults_in_typescript_are_the_schemas():
    """settings.ts holds the one copy of the defaults the TypeScript uses; it must say what the
    settings schema (what the Settings Editor shows) says."""
    schema = json.loads((LABEXTENSION / "schema" / "plugin.json").read_text())
    declared = {name: spec["default"] for name, spec in schema["properties"].items()}
    source = (LABEXTENSION / "src" / "settings.ts").read_text()
    body = re.search(r"DEFAULT_SETTINGS[^=]*=\s*\{(.*?)\};", source, re.S).group(1)
    in_typescript = {name: json.loads(value) for name, value in re.findall(r"(\w+):\s*([^,\n]+)", body)}
    assert in_typescript == declared


def test_installing_a_checkout_without_node_stops_with_one_line_naming_the_fix(tmp_path):
    """`pip install -e .` on a machine without Node.js: the build hook named in pyproject says what to
    install (or to use the wheel) instead of failing deep inside hatchling."""
    import tomllib

    hook = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["hooks"]["jupyter-builder"]
    module, _, function = hook["build-function"].rpartition(".")
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    build = f"from {module} import {function} as build; build('wheel', 'standard', path='labextension')"
    result = subprocess.run(
        [sys.executable, "-c", build],
        cwd=REPO, capture_output=True, text=True, timeout=60, env={"PATH": str(empty_path)})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr   # one line, no traceback
    assert "node and npm are not on the PATH" in result.stderr and "install Node.js 20" in result.stderr
