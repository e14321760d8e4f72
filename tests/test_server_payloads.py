"""The JSON contract between the server and the lab extension is declared once and checked on both sides.

Every route of ``handlers.ROUTES`` is called on a real jupyter_server over a store with something
in every field (params, non-finite metrics, tags, an artifact, a dataset input, a nested and a
failed run, a snapshot, a registered version with stage and alias), and each answer is checked
key by key and value by value against the TypedDict its ``api.py`` function is annotated with
(``server/payloads.py``). Those TypedDicts are then checked against ``labextension/src/api.ts``:
same interface names, same fields, same optional fields, same types.
"""

from __future__ import annotations

import json
import math
import re
import types
import typing
from pathlib import Path

import nbformat
import pytest

import jupyter_tracker as jt
from jupyter_tracker import config
from jupyter_tracker.capture.snapshot import capture_saved
from jupyter_tracker.server import api, handlers, payloads

API = ("jupyter-tracker", "api")
METHODS = ("get", "post", "put", "patch", "delete")
API_TS = Path(__file__).resolve().parent.parent / "labextension" / "src" / "api.ts"
#: Fields the server sends that api.ts does not declare yet (the front end does not read them). The
#: test fails once api.ts declares them, so this list only ever shrinks.
NOT_YET_IN_API_TS: dict[str, set[str]] = {}


# -- checking a value against a type hint -----------------------------------------------------------
def is_typed_dict(hint: object) -> bool:
    return isinstance(hint, type) and typing.is_typeddict(hint)


def mismatches(value: object, hint: object, where: str) -> list[str]:
    """Where ``value`` (decoded JSON) does not fit ``hint``; empty when it fits."""
    if hint is typing.Any or hint is object:
        return []
    if is_typed_dict(hint):
        if not isinstance(value, dict):
            return [f"{where}: {value!r:.60} is not an object ({hint.__name__})"]
        fields = typing.get_type_hints(hint)
        problems = [f"{where}.{key}: missing ({hint.__name__})" for key in hint.__required_keys__ if key not in value]
        problems += [f"{where}.{key}: not declared in {hint.__name__}" for key in value if key not in fields]
        for key, field_hint in fields.items():
            if key in value:
                problems += mismatches(value[key], field_hint, f"{where}.{key}")
        return problems
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [mismatches(value, option, where) for option in arguments]
        return [] if any(not found for found in options) else [f"{where}: {value!r:.60} fits none of {hint}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {value!r:.60} is not a list"]
        return [problem for index, item in enumerate(value) for problem in mismatches(item, arguments[0],
                                                                                       f"{where}[{index}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {value!r:.60} is not an object"]
        return [problem for key, item in value.items() for problem in mismatches(item, arguments[1],
                                                                                  f"{where}[{key!r}]")]
    if hint is type(None):
        return [] if value is None else [f"{where}: {value!r:.60} is not null"]
    if hint is float:
        fits = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        fits = isinstance(value, int) and not isinstance(value, bool)
    else:
        fits = isinstance(value, hint)  # type: ignore[arg-type]
    return [] if fits else [f"{where}: {value!r:.60} is not {getattr(hint, '__name__', hint)}"]


def test_the_checker_catches_what_it_should():
    """The checker above is what the route test relies on: it must refuse each kind of drift."""
    good = {"name": "mnist", "run_count": 2, "running_count": 0, "last_start_time": None}
    assert mismatches(good, payloads.IExperimentSummary, "e") == []
    assert mismatches({**good, "extra": 1}, payloads.IExperimentSummary, "e") == ["e.extra: not declared in "
                                                                                "IExperimentSummary"]
    assert mismatches({k: v for k, v in good.items() if k != "name"}, payloads.IExperimentSummary, "e")
    assert mismatches({**good, "run_count": "2"}, payloads.IExperimentSummary, "e")
    assert mismatches({**good, "run_count": True}, payloads.IExperimentSummary, "e")
    assert mismatches({"experiments": [{**good, "last_start_time": "x"}]}, payloads.ExperimentList, "l")
    assert mismatches({"run": None}, payloads.ActiveRun, "a") == []


# -- a store with something in every field ----------------------------------------------------------
@pytest.fixture
def project(jp_root_dir: Path, monkeypatch) -> dict:
    import pandas as pd

    monkeypatch.delenv("JUPYTER_TRACKER_DIR", raising=False)
    folder = jp_root_dir / "mnist"
    folder.mkdir()
    notebook = folder / "train.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("lr = 0.1")]), str(notebook))
    jt.set_store(folder / ".jupyter_tracker")
    try:
        with jt.start_run("train", experiment="mnist", tags={"team": "vision"}) as run:
            run.log_param("lr", 0.1)
            for step, value in enumerate([1.0, 0.5, math.nan, math.inf]):
                run.log_metric("loss", value, step=step)
            run.log_text("w = 0.5", "notes/weights.txt")
            run.log_input(pd.DataFrame({"x": [1.0, 2.0]}), name="train-set")
            run.log_snapshot(capture_saved(run.store.objects, notebook))
            with jt.start_run("child", nested=True) as child:
                child.log_metric("acc", 0.9)

            class Doubler(jt.PythonModel):
                def predict(self, model_input):
                    return [2 * x for x in model_input]

            jt.log_model(Doubler(), "model")
        jt.register_model(f"runs:/{run.run_id}/model", "doubler", description="doubles")
        jt.transition_model_version_stage("doubler", 1, "Staging")
        jt.set_model_alias("doubler", "champion", 1)
        with pytest.raises(ValueError), jt.start_run("broken", experiment="mnist") as broken:
            raise ValueError("diverged")
    finally:
        config.set_store_override(None)
    return {"dir": "mnist", "run_id": run.run_id, "failed_run_id": broken.run_id, "child_run_id": child.run_id}


def requests_for(project: dict) -> dict[tuple[str, str], tuple[tuple[str, ...], dict, str | None, object]]:
    """(route pattern, method) -> (URL parts, query, body, the api.py function answering it)."""
    run_id, where = project["run_id"], {"dir": project["dir"]}
    return {
        ("stores", "get"): (("stores",), where, None, api.store_info),
        ("experiments", "get"): (("experiments",), where, None, api.experiments),
        ("runs", "get"): (("runs",), where, None, api.runs),
        ("runs/{run}", "get"): (("runs", run_id), where, None, api.run_details),
        ("runs/{run}/metrics/(?P<key>.+)", "get"): (("runs", run_id, "metrics", "loss"), where, None,
                                                    api.metric_history),
        ("runs/{run}/artifacts/(?P<path>.+)", "get"): (("runs", run_id, "artifacts", "notes", "weights.txt"), where,
                                                      None, api.artifact_file),
        ("runs/{run}/snapshot", "get"): (("runs", run_id, "snapshot"), {**where, "kind": "saved"}, None,
                                         api.snapshot),
        ("runs/{run}/restore", "post"): (("runs", run_id, "restore"), where, json.dumps({"kind": "saved"}),
                                         api.restore),
        ("runs/{run}/tags/(?P<key>.+)", "put"): (("runs", run_id, "tags", "owner"), where,
                                                 json.dumps({"value": "me"}), api.set_tag),
        ("active", "get"): (("active",), {**where, "path": "mnist/train.ipynb"}, None, api.active_run),
        ("models", "get"): (("models",), where, None, api.models),
        # Last: they change the run the other requests read.
        ("runs/{run}/tags/(?P<key>.+)", "delete"): (("runs", run_id, "tags", "owner"), where, None, api.delete_tag),
        ("runs/{run}", "patch"): (("runs", run_id), where, json.dumps({"run_name": "renamed"}), api.rename),
        ("runs/{run}", "delete"): (("runs", run_id), {**where, "confirm": run_id}, None, api.delete),
        ("runs", "delete"): (("runs",), {**where, "confirm": "1"}, json.dumps({"run_ids": [project["child_run_id"]]}),
                             api.delete_many),
    }


async def test_every_route_answers_the_json_its_function_declares(jp_fetch, project):
    routes = [(pattern.replace(handlers._RUN, "{run}"), method) for pattern, handler in handlers.ROUTES
              for method in METHODS if method in vars(handler)]
    cases = requests_for(project)
    assert sorted(set(routes) - set(cases)) == [], "a route has no payload case: add it to requests_for"
    checked = []
    for route, (parts, params, body, function) in cases.items():
        response = await jp_fetch(*API, *parts, params=params, method=route[1].upper(), body=body,
                                  allow_nonstandard_methods=True)
        declared = typing.get_type_hints(function)["return"]
        content_type = response.headers["Content-Type"]
        if is_typed_dict(declared):
            assert content_type.startswith("application/json"), route
            answer = json.loads(response.body)
            assert mismatches(answer, declared, declared.__name__) == [], route
            checked.append(declared.__name__)
        elif route[0] == "runs/{run}/snapshot":
            assert declared is str                  # the .ipynb text, not an object of ours
            assert nbformat.reads(response.body.decode(), as_version=4).cells[0].source == "lr = 0.1"
        else:
            assert route[0].startswith("runs/{run}/artifacts") and response.body == b"w = 0.5"
    failed = json.loads((await jp_fetch(*API, "runs", project["failed_run_id"], params={"dir": "mnist"})).body)
    assert failed["error"]["message"] == "diverged" and mismatches(failed, payloads.IRunDetails, "failed") == []
    assert {"IStoreInfo", "ExperimentList", "IRunPage", "IRunDetails", "IMetricHistory", "RestoredPath", "TagSet",
            "ActiveRun", "ModelList", "TagDeleted", "IRunSummary", "RunDeleted", "IRunsDeleted"} == set(checked)


# -- the TypedDicts against api.ts ------------------------------------------------------------------
def split_top(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` outside brackets."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "<([{"
        depth -= char in ">)]}"
        if char == separator and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()] if current.strip() else parts


def ts_type(text: str, aliases: dict[str, str]) -> str:
    """A TypeScript type in the canonical form ``py_type`` gives Python hints."""
    options = split_top(text.strip(), "|")
    if len(options) > 1:
        return "|".join(sorted({ts_type(option, aliases) for option in options}))
    text = options[0]
    if text.endswith("[]"):
        return f"list[{ts_type(text[:-2].strip().removeprefix('(').removesuffix(')'), aliases)}]"
    if text.startswith("Record<string,"):
        return f"dict[{ts_type(text[len('Record<string,'):-1], aliases)}]"
    if text in aliases:
        return ts_type(aliases[text], aliases)
    return {"string": "str", "number": "number", "boolean": "bool", "null": "null", "unknown": "any"}.get(text, text)


def py_type(hint: object) -> str:
    if hint is typing.Any or hint is object:
        return "any"
    if is_typed_dict(hint):
        return hint.__name__
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return "|".join(sorted({py_type(option) for option in arguments}))
    if origin is list:
        return f"list[{py_type(arguments[0])}]"
    if origin is dict:
        return f"dict[{py_type(arguments[1])}]"
    return {str: "str", int: "number", float: "number", bool: "bool", type(None): "null"}[hint]


def ts_fields(body: str, aliases: dict[str, str]) -> dict[str, tuple[str, bool]]:
    """name -> (canonical type, optional) of the fields of an interface body or object literal."""
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    fields = {}
    for member in split_top(body.replace("\n", ";"), ";"):
        if member:
            found = re.fullmatch(r"(\w+)(\??):\s*(.+)", member.strip().rstrip(","), re.S)
            assert found, f"cannot read the api.ts member {member!r}"
            fields[found[1]] = (ts_type(found[3], aliases), bool(found[2]))
    return fields


def declared_in_api_ts() -> tuple[dict[str, dict[str, tuple[str, bool]]], str, dict[str, str]]:
    source = API_TS.read_text()
    aliases = dict(re.findall(r"export type (\w+) = ([^;]+);", source))
    bodies = {name: (parent, body) for name, parent, body in
              re.findall(r"export interface (\w+)(?: extends (\w+))? \{(.*?)\n\}", source, re.S)}

    def fields(name: str) -> dict[str, tuple[str, bool]]:
        parent, body = bodies[name]
        return {**(fields(parent) if parent else {}), **ts_fields(body, aliases)}

    return {name: fields(name) for name in bodies}, source, aliases


def python_fields(typed_dict: type) -> dict[str, tuple[str, bool]]:
    hints = typing.get_type_hints(typed_dict)
    return {name: (py_type(hint), name in typed_dict.__optional_keys__) for name, hint in hints.items()}


def function_body(source: str, name: str) -> str:
    found = re.search(rf"export (?:async )?function {name}\(.*?\n\}}", source, re.S)
    assert found, f"api.ts has no function {name}"
    return found[0]


def test_every_typed_dict_is_an_api_ts_interface_with_the_same_fields():
    interfaces, source, aliases = declared_in_api_ts()
    typed_dicts = {name: value for name, value in vars(payloads).items() if is_typed_dict(value)}
    assert set(typed_dicts) == set(payloads.__all__) - {"INLINE_IN_API_TS", "IGNORED_BY_API_TS"}
    replies = set(payloads.INLINE_IN_API_TS) | set(payloads.IGNORED_BY_API_TS)
    assert set(typed_dicts) - replies <= set(interfaces), "a TypedDict is named like no api.ts interface"
    for name in set(typed_dicts) - replies:
        ours = python_fields(typed_dicts[name])
        unlisted = NOT_YET_IN_API_TS.get(name, set())
        assert unlisted.isdisjoint(interfaces[name]), f"api.ts now declares {unlisted}: drop NOT_YET_IN_API_TS"
        assert {k: v for k, v in ours.items() if k not in unlisted} == interfaces[name], name
    for name, function in payloads.INLINE_IN_API_TS.items():
        literal = re.search(r"requestAPI<\{(.*?)\}>", function_body(source, function), re.S)
        assert literal, f"{function} in api.ts no longer declares its reply inline; declare {name} there"
        assert python_fields(typed_dicts[name]) == ts_fields(literal[1], aliases), name
    for name, function in payloads.IGNORED_BY_API_TS.items():
        assert re.search(r"requestAPI\(\[", function_body(source, function)), (
            f"{function} in api.ts now reads its reply; declare {name} as an interface there")


def test_interfaces_api_ts_declares_for_replies_all_have_a_typed_dict():
    interfaces, _, _ = declared_in_api_ts()
    requests_only = {"IRunTarget", "IRunQuery"}          # what the front end sends or keeps, never a reply
    assert set(interfaces) - requests_only == {name for name, value in vars(payloads).items()
                                               if is_typed_dict(value) and re.fullmatch(r"I[A-Z]\w+", name)}
