"""The model registry: named models with numbered versions, stages, transition history and aliases.

``register_model("runs:/<id>/model", "churn")`` makes version 1, 2, ... of ``churn``. A version's
stage moves through None → Staging → Production → Archived; every move is recorded with who,
when and why. Aliases (``champion``) point at one version each; models and versions carry tags.
All of it lives in the store's DuckDB file (tables in ``internal``, views ``registered_models``,
``model_versions``, ``stage_transitions``, ``model_aliases``, ``registered_model_tags``,
``model_version_tags``). Registry edits are rare and deliberate, so each is one transaction in a
store session (uniqueness is checked there, under the store lock).

MLflow's registry calls on a ``jupyter-tracker:`` URI (``mlflow_backend.registry_store``) are these
same functions, so ``jt``, the lab sidebar and MLflow see one registry. What only MLflow has (a
version's storage location, logged model, run link and status) is kept in
``internal.mlflow_model_versions``; a deleted version's number is remembered in
``internal.deleted_model_versions`` so it is never given again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .capture.user import current_user
from .clock import now_ms
from .errors import InvalidStageError, InvalidValueError, ModelExistsError, ModelNotFoundError
from .manage import write_tag
from .model_uri import (
    STAGES,
    check_model_name,
    model_files,
    require_model,
    require_version,
    resolve_model_uri,
    resolve_reference,
    version_numbers,
)
from .store.current import resolve_store
from .store.sql import fetch_one, transaction

#: Run tag listing the registered versions made from the run ("churn v1, churn v3").
REGISTERED_TAG = "registered_models"
#: The tag MLflow marks a prompt with (``mlflow.genai.register_prompt`` keeps prompts as registered models).
PROMPT_TAG = "mlflow.prompt.is_prompt"
#: The statuses of a model version (MLflow's ``ModelVersionStatus``); jt's versions are READY when made.
VERSION_STATUSES = ("PENDING_REGISTRATION", "FAILED_REGISTRATION", "READY")
#: What an alias may be: a letter or _, then up to 99 letters, digits, _ or -.
ALIAS_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,99}$")

__all__ = ["STAGES", "VERSION_STATUSES", "ModelVersion", "check_tag", "create_model_version",
           "create_registered_model", "delete_model_alias", "delete_model_version", "delete_model_version_tag",
           "delete_registered_model", "delete_registered_model_tag", "get_model_version", "get_stage_history",
           "is_prompt", "list_registered_models", "point_alias", "register_model", "registered_models_with_versions",
           "rename_registered_model", "resolve_model_uri", "search_model_versions", "set_model_alias",
           "set_model_version_tag", "set_registered_model_tag", "transition_model_version_stage",
           "update_model_version", "update_registered_model"]


@dataclass
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: int
    run_id: str
    artifact_path: str
    source: str
    stage: str
    description: str | None
    user: str | None
    created_time: datetime
    aliases: list[str] = field(default_factory=list)

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"




def _check_stage(stage: str) -> str:
    for known in STAGES:
        if isinstance(stage, str) and stage.lower() == known.lower():
            return known
    if stage is None:
        return "None"
    raise InvalidStageError(f"stage {stage!r} is not one of {', '.join(STAGES)}")


def _check_version(version) -> int:
    try:
        number = int(version)
    except (TypeError, ValueError):
        number = 0
    if isinstance(version, bool) or number < 1 or str(number) != str(version).strip():
        raise InvalidValueError(f"model versions are positive integers (1, 2, ...), not {version!r}")
    return number





def _version_record(con, name: str, version: int) -> ModelVersion:
    row = fetch_one(con, """SELECT name, version, run_id, artifact_path, source, stage, description, user_name,
                                   created_time FROM internal.model_versions WHERE name = ? AND version = ?""",
                    [name, version])
    aliases = [a for (a,) in con.execute(
        "SELECT alias FROM internal.model_aliases WHERE name = ? AND version = ? ORDER BY alias",
        [name, version]).fetchall()]
    return ModelVersion(*row[:8], created_time=datetime.fromtimestamp(row[8] / 1000, tz=timezone.utc),
                        aliases=aliases)


def register_model(model_uri: str, name: str, *, description: str | None = None, store=None) -> ModelVersion:
    """Register the model at ``model_uri`` (``runs:/<run_id>/<folder>``) as the next version of ``name``."""
    name = check_model_name(name)
    if not isinstance(model_uri, str) or not model_uri.startswith(("runs:/", "models:/")):
        raise ModelNotFoundError(f"register_model takes a model URI like 'runs:/<run_id>/model', not {model_uri!r}")
    run_id, folder, _ = model_files(model_uri, store=store)
    with resolve_store(store).session() as con:
        with transaction(con):
            if not fetch_one(con, "SELECT 1 FROM internal.registered_models WHERE name = ?", [name]):
                _insert_model(con, name, None, {})
            version = _insert_version(con, name, run_id, folder, f"runs:/{run_id}/{folder}", description, {}, {})
        return _version_record(con, name, version)


def _insert_model(con, name: str, description: str | None, tags: dict[str, str]) -> None:
    now = now_ms()
    con.execute("INSERT INTO internal.registered_models (name, description, created_time, updated_time) "
                "VALUES (?, ?, ?, ?)", [name, description, now, now])
    for key, value in tags.items():
        con.execute("INSERT INTO internal.registered_model_tags VALUES (?, ?, ?)", [name, key, value])


def _insert_version(con, name: str, run_id: str | None, folder: str | None, source: str, description: str | None,
                    tags: dict[str, str], mlflow_fields: dict[str, str | None]) -> int:
    """Add the next version of ``name`` (a number never given before, deleted ones included); the
    caller holds the transaction. Returns its number."""
    now = now_ms()
    (deleted,) = fetch_one(con, "SELECT max(version) FROM internal.deleted_model_versions WHERE name = ?", [name])
    version = max(max(version_numbers(con, name), default=0), deleted or 0) + 1
    con.execute("""INSERT INTO internal.model_versions (name, version, run_id, artifact_path, source, stage,
                   description, user_name, created_time, updated_time) VALUES (?, ?, ?, ?, ?, 'None', ?, ?, ?, ?)""",
                [name, version, run_id, folder, source, description, current_user(), now, now])
    for key, value in tags.items():
        con.execute("INSERT INTO internal.model_version_tags VALUES (?, ?, ?, ?)", [name, version, key, value])
    if any(value is not None for value in mlflow_fields.values()):
        con.execute("INSERT INTO internal.mlflow_model_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [name, version, *(mlflow_fields.get(field) for field in _MLFLOW_FIELDS)])
    _touch(con, name, now)
    if run_id is not None:
        _tag_run(con, run_id, f"{name} v{version}")
    return version


#: The columns of internal.mlflow_model_versions after (name, version), in order.
_MLFLOW_FIELDS = ("storage_location", "model_id", "run_link", "status", "status_message")


def _touch(con, name: str, now: int | None = None) -> None:
    con.execute("UPDATE internal.registered_models SET updated_time = ? WHERE name = ?", [now or now_ms(), name])


def _tag_run(con, run_id: str, label: str) -> None:
    """Add ``label`` to the run's ``registered_models`` tag, so the run table shows what became of it
    (a version MLflow registers may name a run this store does not hold: then there is no tag)."""
    found = fetch_one(con, "SELECT run_key FROM internal.runs WHERE run_id = ?", [run_id])
    if found is None:
        return
    row = fetch_one(con, "SELECT value FROM internal.tags WHERE run_key = ? AND key = ?",
                    [found[0], REGISTERED_TAG])
    write_tag(con, found[0], REGISTERED_TAG, f"{row[0]}, {label}" if row else label)


def get_model_version(name: str, version: int | str, *, store=None) -> ModelVersion:
    """One version of a registered model (``version`` may also be an alias, a stage or 'latest')."""
    with resolve_store(store).session() as con:
        number = resolve_reference(con, check_model_name(name), str(version))
        return _version_record(con, name.strip(), number)


def transition_model_version_stage(name: str, version: int, stage: str, *, archive_existing_versions: bool = False,
                                   comment: str | None = None, store=None) -> ModelVersion:
    """Move a version to ``stage`` (None, Staging, Production, Archived), recording who, when and why.

    ``archive_existing_versions=True`` moves the other versions that are in that stage to Archived.
    """
    name, version, stage = check_model_name(name), _check_version(version), _check_stage(stage)
    if comment is not None and not isinstance(comment, str):
        raise InvalidValueError(f"a transition comment is text, not {type(comment).__name__}")
    now, user = now_ms(), current_user()
    with resolve_store(store).session() as con:
        require_version(con, name, version)
        with transaction(con):
            moves = [(version, stage, comment)]
            if archive_existing_versions and stage in ("Staging", "Production"):
                others = con.execute("SELECT version FROM internal.model_versions WHERE name = ? AND stage = ? "
                                     "AND version <> ?", [name, stage, version]).fetchall()
                moves += [(other, "Archived", f"archived when version {version} moved to {stage}")
                          for (other,) in others]
            for number, target, why in moves:
                (current,) = fetch_one(con, "SELECT stage FROM internal.model_versions WHERE name = ? AND version = ?",
                                       [name, number])
                if current == target:
                    continue
                con.execute("UPDATE internal.model_versions SET stage = ?, updated_time = ? "
                            "WHERE name = ? AND version = ?", [target, now, name, number])
                con.execute("INSERT INTO internal.stage_transitions VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [name, number, current, target, user, why, now])
            _touch(con, name, now)
        return _version_record(con, name, version)


def set_model_alias(name: str, alias: str, version: int, *, store=None) -> ModelVersion:
    """Point ``alias`` (e.g. 'champion') at ``version``; an alias names one version at a time."""
    name, version = check_model_name(name), _check_version(version)
    if not isinstance(alias, str) or not ALIAS_PATTERN.match(alias) or alias.lower() == "latest" or \
            alias.lower() in (s.lower() for s in STAGES) or alias.isdigit():
        raise InvalidValueError(f"an alias is a word of letters, digits, '_' or '-' (not a number, a stage or "
                                f"'latest'), such as 'champion'; not {alias!r}")
    return point_alias(name, alias, version, store=store)


def point_alias(name: str, alias: str, version: int, *, store=None) -> ModelVersion:
    """Point ``alias`` at ``version`` once the caller has checked the alias by its rules: ours
    (``set_model_alias``) or MLflow's, which allow aliases ours refuse, such as 'Production'
    (``models:/<name>@<alias>`` always means an alias, so nothing is ambiguous)."""
    name, version = check_model_name(name), _check_version(version)
    if not isinstance(alias, str) or not alias:
        raise InvalidValueError(f"an alias is a non-empty word such as 'champion', not {alias!r}")
    with resolve_store(store).session() as con:
        require_version(con, name, version)
        with transaction(con):
            con.execute("DELETE FROM internal.model_aliases WHERE name = ? AND alias = ?", [name, alias])
            con.execute("INSERT INTO internal.model_aliases VALUES (?, ?, ?)", [name, alias, version])
            _touch(con, name)
        return _version_record(con, name, version)


def delete_model_alias(name: str, alias: str, *, store=None) -> bool:
    """Remove ``alias`` from model ``name``; returns whether it existed."""
    with resolve_store(store).session() as con:
        name = check_model_name(name)
        require_model(con, name)
        removed = con.execute("DELETE FROM internal.model_aliases WHERE name = ? AND alias = ? RETURNING alias",
                              [name, alias]).fetchall()
        if removed:
            _touch(con, name)
    return bool(removed)


def get_stage_history(name: str, version: int | None = None, *, store=None):
    """Stage transitions of a model (or one version) as a DataFrame, oldest first."""
    name = check_model_name(name)
    condition, params = ("name = ?", [name]) if version is None else (
        "name = ? AND version = ?", [name, _check_version(version)])
    with resolve_store(store).session() as con:
        return con.execute(f"SELECT version, from_stage, to_stage, user_name AS \"user\", comment, "
                           f"epoch_ms(timestamp) AS timestamp FROM internal.stage_transitions WHERE {condition} "
                           f"ORDER BY timestamp, rowid", params).df()


#: SQL true for a model ``{alias}.name`` that MLflow keeps as a prompt (tagged ``PROMPT_TAG = 'true'``).
_IS_PROMPT = (f"EXISTS (SELECT 1 FROM internal.registered_model_tags p WHERE p.name = {{alias}}.name "
              f"AND p.key = '{PROMPT_TAG}' AND p.value = 'true')")


def search_model_versions(name: str | None = None, *, include_prompts: bool = False, store=None):
    """Registered versions (of ``name``, or all) as a DataFrame with their stage and aliases.

    The versions of MLflow's prompts (models tagged ``mlflow.prompt.is_prompt``) are left out, as
    MLflow's own search leaves them out, unless ``include_prompts=True`` or ``name`` is a prompt's."""
    conditions, params = ([] if include_prompts or name is not None else [f"NOT {_IS_PROMPT.format(alias='v')}"]), []
    if name is not None:
        conditions.append("v.name = ?")
        params.append(check_model_name(name))
    condition = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    with resolve_store(store).session() as con:
        return con.execute(f"""
            SELECT v.name, v.version, v.stage,
                   coalesce(list(a.alias ORDER BY a.alias) FILTER (WHERE a.alias IS NOT NULL), []) AS aliases,
                   v.run_id, v.source, v.description, v.user_name AS "user",
                   epoch_ms(v.created_time) AS created_time
            FROM internal.model_versions v LEFT JOIN internal.model_aliases a USING (name, version)
            {condition} GROUP BY ALL ORDER BY v.name, v.version""", params).df()


def is_prompt(model_tags: dict[str, str]) -> bool:
    """Whether a registered model with these tags is one of MLflow's prompts, not a model."""
    return model_tags.get(PROMPT_TAG) == "true"


def list_registered_models(*, include_prompts: bool = False, store=None):
    """Registered models with their latest version and the version in Production, as a DataFrame.

    MLflow's prompts (``mlflow.genai.register_prompt`` keeps them as models tagged
    ``mlflow.prompt.is_prompt``) are not models: they are left out, as MLflow's
    ``search_registered_models`` leaves them out, unless ``include_prompts=True``."""
    condition = "" if include_prompts else f"WHERE NOT {_IS_PROMPT.format(alias='m')}"
    with resolve_store(store).session() as con:
        return con.execute(f"""
            SELECT m.name, max(v.version) AS latest_version,
                   max(v.version) FILTER (WHERE v.stage = 'Production') AS production_version,
                   m.description, epoch_ms(m.updated_time) AS updated_time
            FROM internal.registered_models m LEFT JOIN internal.model_versions v USING (name)
            {condition} GROUP BY ALL ORDER BY m.name""").df()


def registered_models_with_versions(name: str | None = None, *, store=None) -> list[dict]:
    """Each registered model (by name; or only ``name``) with its tags and its versions, newest first,
    as plain records: what a listing such as the lab sidebar or MLflow's registry shows. A version
    carries its stage, aliases, tags, source run id and that run's name (None when the run is gone),
    and MLflow's fields of it (None for versions jt registered), so no second lookup is needed."""
    condition, args = ("WHERE name = ?", [check_model_name(name)]) if name is not None else ("", [])
    with resolve_store(store).session() as con:
        models = con.execute(f"SELECT name, description, created_time, updated_time FROM internal.registered_models "
                             f"{condition} ORDER BY name", args).fetchall()
        model_tags = con.execute(f"SELECT name, key, value FROM internal.registered_model_tags {condition} "
                                 f"ORDER BY name, key", args).fetchall()
        version_tags = con.execute(f"SELECT name, version, key, value FROM internal.model_version_tags {condition} "
                                   f"ORDER BY name, version, key", args).fetchall()
        versions = con.execute(f"""
            SELECT v.name, v.version, v.stage,
                   coalesce(list(a.alias ORDER BY a.alias) FILTER (WHERE a.alias IS NOT NULL), []) AS aliases,
                   v.run_id, any_value(r.run_name), v.source, v.description, v.user_name, v.created_time,
                   v.updated_time, v.artifact_path, any_value(m.storage_location), any_value(m.model_id),
                   any_value(m.run_link), any_value(m.status), any_value(m.status_message)
            FROM internal.model_versions v
            LEFT JOIN internal.model_aliases a USING (name, version)
            LEFT JOIN internal.runs r ON r.run_id = v.run_id
            LEFT JOIN internal.mlflow_model_versions m ON m.name = v.name AND m.version = v.version
            {condition.replace("name", "v.name")}
            GROUP BY v.name, v.version, v.stage, v.run_id, v.source, v.description, v.user_name, v.created_time,
                     v.updated_time, v.artifact_path
            ORDER BY v.name, v.version DESC""", args).fetchall()
    tags_of: dict[str, dict[str, str]] = {}
    for model, key, value in model_tags:
        tags_of.setdefault(model, {})[key] = value
    version_tags_of: dict[tuple[str, int], dict[str, str]] = {}
    for model, version, key, value in version_tags:
        version_tags_of.setdefault((model, version), {})[key] = value
    by_name: dict[str, list[dict]] = {model: [] for model, *_ in models}
    for (model, version, stage, aliases, run_id, run_name, source, description, user, created, updated,
         artifact_path, *mlflow_values) in versions:
        by_name.setdefault(model, []).append({
            "version": int(version), "stage": stage, "aliases": list(aliases), "run_id": run_id,
            "run_name": run_name, "source": source, "description": description, "user": user,
            "created_time": int(created), "updated_time": int(updated or created), "artifact_path": artifact_path,
            "tags": version_tags_of.get((model, version), {}), **dict(zip(_MLFLOW_FIELDS, mlflow_values))})
    return [{"name": model, "description": description, "tags": tags_of.get(model, {}), "created_time": int(created),
             "updated_time": int(updated), "versions": by_name[model]}
            for model, description, created, updated in models]


# -- edits MLflow's registry makes (and jt may): models, descriptions, tags, deletion -----------------------
def create_registered_model(name: str, *, description: str | None = None, tags: dict[str, str] | None = None,
                            store=None) -> None:
    """A registered model with no versions yet (``jt.register_model`` makes one on first use)."""
    name = check_model_name(name)
    with resolve_store(store).session() as con:
        with transaction(con):
            if fetch_one(con, "SELECT 1 FROM internal.registered_models WHERE name = ?", [name]):
                raise ModelExistsError(f"a registered model {name!r} already exists; register a new version of it, "
                                       f"or choose another name")
            _insert_model(con, name, _text_or_none(description, "description"), _tags(tags))


def update_registered_model(name: str, description: str | None, *, store=None) -> None:
    """Replace the model's description."""
    name, description = check_model_name(name), _text_or_none(description, "description")
    with resolve_store(store).session() as con:
        require_model(con, name)
        con.execute("UPDATE internal.registered_models SET description = ?, updated_time = ? WHERE name = ?",
                    [description, now_ms(), name])


#: Every table whose rows name a registered model, in the order a rename rewrites them.
_NAMED_TABLES = ("registered_models", "model_versions", "stage_transitions", "model_aliases", "registered_model_tags",
                 "model_version_tags", "mlflow_model_versions", "deleted_model_versions")


def rename_registered_model(name: str, new_name: str, *, store=None) -> None:
    """Give the model (and so all its versions, aliases and tags) a new name; the runs' ``registered_models``
    tags follow."""
    name, new_name = check_model_name(name), check_model_name(new_name)
    with resolve_store(store).session() as con:
        require_model(con, name)
        with transaction(con):
            if fetch_one(con, "SELECT 1 FROM internal.registered_models WHERE name = ?", [new_name]):
                raise ModelExistsError(f"cannot rename {name!r} to {new_name!r}: a registered model {new_name!r} "
                                       f"already exists; choose another name")
            for table in _NAMED_TABLES:
                con.execute(f"UPDATE internal.{table} SET name = ? WHERE name = ?", [new_name, name])
            now = now_ms()
            con.execute("UPDATE internal.model_versions SET updated_time = ? WHERE name = ?", [now, new_name])
            _touch(con, new_name, now)
            for (run_id,) in con.execute("SELECT DISTINCT run_id FROM internal.model_versions WHERE name = ? AND "
                                         "run_id IS NOT NULL", [new_name]).fetchall():
                _relabel_run(con, run_id, lambda label: new_name + label[len(name):]
                             if label.startswith(name + " v") else label)


def delete_registered_model(name: str, *, store=None) -> None:
    """Remove the model with its versions, aliases, tags and stage history (the runs stay)."""
    name = check_model_name(name)
    with resolve_store(store).session() as con:
        require_model(con, name)
        with transaction(con):
            runs = [r for (r,) in con.execute("SELECT DISTINCT run_id FROM internal.model_versions WHERE name = ? "
                                              "AND run_id IS NOT NULL", [name]).fetchall()]
            for table in _NAMED_TABLES:
                con.execute(f"DELETE FROM internal.{table} WHERE name = ?", [name])
            for run_id in runs:
                _relabel_run(con, run_id, lambda label: None if label.startswith(name + " v") else label)


def delete_model_version(name: str, version: int, *, store=None) -> None:
    """Remove one version with its aliases and tags; its number is not given again."""
    name, version = check_model_name(name), _check_version(version)
    with resolve_store(store).session() as con:
        require_version(con, name, version)
        with transaction(con):
            (run_id,) = fetch_one(con, "SELECT run_id FROM internal.model_versions WHERE name = ? AND version = ?",
                                  [name, version])
            for table in ("model_versions", "model_aliases", "model_version_tags", "mlflow_model_versions",
                          "stage_transitions"):
                con.execute(f"DELETE FROM internal.{table} WHERE name = ? AND version = ?", [name, version])
            now = now_ms()
            con.execute("INSERT INTO internal.deleted_model_versions VALUES (?, ?, ?)", [name, version, now])
            _touch(con, name, now)
            if run_id is not None:
                _relabel_run(con, run_id, lambda label: None if label == f"{name} v{version}" else label)


def update_model_version(name: str, version: int, description: str | None, *, store=None) -> ModelVersion:
    """Replace a version's description."""
    name, version = check_model_name(name), _check_version(version)
    description = _text_or_none(description, "description")
    with resolve_store(store).session() as con:
        require_version(con, name, version)
        now = now_ms()
        with transaction(con):
            con.execute("UPDATE internal.model_versions SET description = ?, updated_time = ? WHERE name = ? AND "
                        "version = ?", [description, now, name, version])
            _touch(con, name, now)
        return _version_record(con, name, version)


def create_model_version(name: str, source: str, *, run_id: str | None = None, artifact_path: str | None = None,
                         description: str | None = None, tags: dict[str, str] | None = None,
                         mlflow_fields: dict[str, str | None] | None = None, store=None) -> int:
    """The next version of the existing model ``name`` from any ``source`` (a ``runs:/`` folder in our
    model format, which ``artifact_path`` names, or an MLflow model such as ``models:/m-...``, whose
    storage location and logged model go in ``mlflow_fields``). Returns its number."""
    name = check_model_name(name)
    if not isinstance(source, str) or not source:
        raise InvalidValueError(f"a model version's source is a URI such as 'runs:/<run_id>/model', not {source!r}")
    unknown = set(mlflow_fields or {}) - set(_MLFLOW_FIELDS)
    if unknown:
        raise InvalidValueError(f"unknown MLflow model version fields {sorted(unknown)}; known: {_MLFLOW_FIELDS}")
    with resolve_store(store).session() as con:
        require_model(con, name)
        with transaction(con):
            return _insert_version(con, name, run_id, artifact_path, source,
                                   _text_or_none(description, "description"), _tags(tags), mlflow_fields or {})


def set_registered_model_tag(name: str, key: str, value: str, *, store=None) -> None:
    """Set (or replace) a tag of the model."""
    _edit_tag(check_model_name(name), None, key, value, store)


def delete_registered_model_tag(name: str, key: str, *, store=None) -> None:
    _edit_tag(check_model_name(name), None, key, None, store)


def set_model_version_tag(name: str, version: int, key: str, value: str, *, store=None) -> None:
    """Set (or replace) a tag of one version."""
    _edit_tag(check_model_name(name), _check_version(version), key, value, store)


def delete_model_version_tag(name: str, version: int, key: str, *, store=None) -> None:
    _edit_tag(check_model_name(name), _check_version(version), key, None, store)


def _edit_tag(name: str, version: int | None, key: str, value: str | None, store) -> None:
    if not isinstance(key, str) or not key:
        raise InvalidValueError(f"a tag key is a non-empty string, not {key!r}")
    value = _text_or_none(value, f"tag {key!r}")
    with resolve_store(store).session() as con:
        if version is None:
            require_model(con, name)
            table, owner, args = "registered_model_tags", "name = ?", [name]
        else:
            require_version(con, name, version)
            table, owner, args = "model_version_tags", "name = ? AND version = ?", [name, version]
        with transaction(con):
            con.execute(f"DELETE FROM internal.{table} WHERE {owner} AND key = ?", [*args, key])
            if value is not None:
                con.execute(f"INSERT INTO internal.{table} VALUES ({', '.join('?' * (len(args) + 2))})",
                            [*args, key, value])
            _touch(con, name)


def _text_or_none(value, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidValueError(f"a {what} is text, not {type(value).__name__}")
    return value


def check_tag(key, value) -> None:
    """Refuse (``InvalidValueError``) a tag of a registered model or version that is not a non-empty
    text key with a text value; the registry's tag writes and bundle imports keep this one rule."""
    if not isinstance(key, str) or not key or not isinstance(value, str):
        raise InvalidValueError(f"registry tags are non-empty text keys with text values, not {key!r}: {value!r}")


def _tags(tags: dict[str, str] | None) -> dict[str, str]:
    for key, value in (tags or {}).items():
        check_tag(key, value)
    return dict(tags or {})


def _relabel_run(con, run_id: str, relabel) -> None:
    """Rewrite the run's ``registered_models`` labels ("churn v1, churn v3") with ``relabel`` (None drops one)."""
    found = fetch_one(con, "SELECT r.run_key, t.value FROM internal.runs r JOIN internal.tags t USING (run_key) "
                           "WHERE r.run_id = ? AND t.key = ?", [run_id, REGISTERED_TAG])
    if found is None:
        return
    labels = [kept for label in found[1].split(", ") if (kept := relabel(label)) is not None]
    if labels:
        write_tag(con, found[0], REGISTERED_TAG, ", ".join(labels))
    else:
        con.execute("DELETE FROM internal.tags WHERE run_key = ? AND key = ?", [found[0], REGISTERED_TAG])
