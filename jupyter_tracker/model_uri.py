"""Model URIs: which run folder ``runs:/<run>/<folder>`` or ``models:/<name>/<version|stage|alias>``
names, and that folder's files. Shared by loading (``models``) and registering (``registry``)."""

from __future__ import annotations

import re

from .errors import InvalidValueError, ModelNotFoundError
from .query import get_run
from .store.current import resolve_store
from .store.sql import fetch_one

#: The file describing a logged model (flavor, signature, requirements) inside its folder.
METADATA_FILE = "MLmodel.json"
STAGES = ("None", "Staging", "Production", "Archived")
#: What a registered model's name may not hold: '/' and ':' (they would break ``models:/<name>/<version>``,
#: MLflow's rule too) and control characters. Names are 1-256 characters, so MLflow's names fit.
_NOT_IN_NAME = re.compile(r"[/:\x00-\x1f\x7f]")


def check_model_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 256 or _NOT_IN_NAME.search(name):
        raise InvalidValueError(f"registered model names are 1-256 characters without '/', ':' or control "
                                f"characters, such as 'churn-model'; not {name!r}")
    return name.strip()


def version_numbers(con, name: str) -> list[int]:
    return [v for (v,) in con.execute("SELECT version FROM internal.model_versions WHERE name = ? ORDER BY version",
                                      [name]).fetchall()]


def require_model(con, name: str) -> None:
    """Raise ModelNotFoundError, listing the registered models, when ``name`` is not one of them."""
    if not fetch_one(con, "SELECT 1 FROM internal.registered_models WHERE name = ?", [name]):
        names = [n for (n,) in con.execute("SELECT name FROM internal.registered_models ORDER BY 1").fetchall()]
        raise ModelNotFoundError(f"no registered model {name!r}; registered models are: "
                                 f"{', '.join(names) or '(none yet)'}. Register one with jt.register_model()")


def require_version(con, name: str, version: int) -> None:
    require_model(con, name)
    versions = version_numbers(con, name)
    if version not in versions:
        raise ModelNotFoundError(f"model {name!r} has no version {version}; its versions are "
                                 f"{', '.join(map(str, versions)) or '(none)'}")


def resolve_reference(con, name: str, reference: str) -> int:
    """A version number from '3', 'latest', a stage ('Production': its newest version) or an alias."""
    versions = version_numbers(con, name)
    if not versions:
        require_version(con, name, 1)  # raises: the model is not registered
    reference = reference.strip()
    if reference.isdigit():
        require_version(con, name, int(reference))
        return int(reference)
    if reference.lower() == "latest":
        return versions[-1]
    for stage in STAGES:
        if reference.lower() == stage.lower():
            row = fetch_one(con, "SELECT max(version) FROM internal.model_versions WHERE name = ? AND stage = ?",
                            [name, stage])
            if row[0] is None:
                raise ModelNotFoundError(f"model {name!r} has no version in stage {stage}")
            return row[0]
    return alias_version(con, name, reference)


def alias_version(con, name: str, alias: str) -> int:
    """The version ``alias`` points at (``models:/<name>@<alias>`` means an alias, never a stage)."""
    row = fetch_one(con, "SELECT version FROM internal.model_aliases WHERE name = ? AND alias = ?", [name, alias])
    if row is None:
        aliases = [a for (a,) in con.execute("SELECT alias FROM internal.model_aliases WHERE name = ? ORDER BY 1",
                                             [name]).fetchall()]
        raise ModelNotFoundError(f"model {name!r} has no version, stage or alias {alias!r}; its aliases are: "
                                 f"{', '.join(aliases) or '(none)'}")
    return row[0]


def resolve_model_uri(uri: str, *, store=None) -> tuple[str, str]:
    """(run_id, artifact folder) of ``models:/<name>/<version|stage|alias|latest>`` or ``models:/<name>@<alias>``."""
    body = uri[len("models:/"):].strip("/")
    by_alias = "@" in body and "/" not in body
    if by_alias:
        name, _, reference = body.partition("@")
    else:
        name, _, reference = body.rpartition("/")
    if not name or not reference:
        raise ModelNotFoundError(f"{uri!r} is not a registry URI; write 'models:/<name>/<version or alias>' "
                                 f"or 'models:/<name>@<alias>'")
    with resolve_store(store).session() as con:
        name = check_model_name(name)
        if by_alias:
            require_model(con, name)
            version = alias_version(con, name, reference)
        else:
            version = resolve_reference(con, name, reference)
        row = fetch_one(con, "SELECT run_id, artifact_path, source FROM internal.model_versions "
                             "WHERE name = ? AND version = ?", [name, version])
    if row[1] is None:
        raise ModelNotFoundError(f"version {version} of {name!r} was registered with MLflow from {row[2]}, not from a "
                                 f"jt.log_model folder; load it with mlflow.pyfunc.load_model('models:/{name}/"
                                 f"{version}') (tracking URI jupyter-tracker:)")
    return row[0], row[1]


def model_files(uri: str, *, store=None) -> tuple[str, str, dict]:
    """(run_id, folder, {relative path: local file}) of the model that ``uri`` names."""
    if not isinstance(uri, str):
        raise ModelNotFoundError(f"model URIs are strings like 'runs:/<run_id>/model', not {uri!r}")
    if uri.startswith("models:/"):
        run_id, folder = resolve_model_uri(uri, store=store)
    elif uri.startswith("runs:/"):
        run_id, _, folder = uri[len("runs:/"):].strip("/").partition("/")
        if not run_id or not folder:
            raise ModelNotFoundError(f"{uri!r} is not a run model URI; write 'runs:/<run_id>/<model name>'")
    else:
        raise ModelNotFoundError(f"{uri!r} is not a model URI; write 'runs:/<run_id>/<name>' or "
                                 f"'models:/<registered name>/<version or alias>'")
    # A registered version keeps loading when its run is deleted (gc keeps such runs until the version goes).
    record = get_run(run_id, store=store, include_deleted=uri.startswith("models:/"))
    files = {a.path[len(folder) + 1:]: a.local_path for a in record.artifacts if a.path.startswith(folder + "/")}
    if METADATA_FILE not in files:
        models = sorted({a.path.rsplit("/", 1)[0] for a in record.artifacts if a.path.endswith(METADATA_FILE)})
        raise ModelNotFoundError(f"run {record.run_id[:8]} has no model {folder!r}; its models are: "
                                 f"{', '.join(models) or '(none)'}")
    return record.run_id, folder, files
