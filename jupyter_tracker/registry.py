"""The model registry: named models with numbered versions, stages, transition history and aliases.

``register_model("runs:/<id>/model", "churn")`` makes version 1, 2, ... of ``churn``. A version's
stage moves through None → Staging → Production → Archived; every move is recorded with who,
when and why. Aliases (``champion``) point at one version each. All of it lives in the store's
DuckDB file (tables in ``internal``, views ``registered_models``, ``model_versions``,
``stage_transitions``, ``model_aliases``). Registry edits are rare and deliberate, so each is one
transaction in a store session (uniqueness is checked there, under the store lock).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .capture.user import current_user
from .clock import now_ms
from .errors import InvalidStageError, InvalidValueError, ModelNotFoundError
from .manage import write_tag
from .model_uri import (
    STAGES,
    check_model_name,
    model_files,
    require_version,
    resolve_model_uri,
    resolve_reference,
    version_numbers,
)
from .store.current import resolve_store
from .store.sql import fetch_one, transaction

#: Run tag listing the registered versions made from the run ("churn v1, churn v3").
REGISTERED_TAG = "registered_models"
#: What an alias may be: a letter or _, then up to 99 letters, digits, _ or -.
ALIAS_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,99}$")

__all__ = ["STAGES", "ModelVersion", "delete_model_alias", "get_model_version", "get_stage_history",
           "list_registered_models", "register_model", "registered_models_with_versions", "resolve_model_uri",
           "search_model_versions", "set_model_alias", "transition_model_version_stage"]


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
    now = now_ms()
    with resolve_store(store).session() as con:
        with transaction(con):
            if not fetch_one(con, "SELECT 1 FROM internal.registered_models WHERE name = ?", [name]):
                con.execute("INSERT INTO internal.registered_models VALUES (?, ?, ?, ?)", [name, None, now, now])
            version = (max(version_numbers(con, name), default=0)) + 1
            con.execute("INSERT INTO internal.model_versions VALUES (?, ?, ?, ?, ?, 'None', ?, ?, ?, ?)",
                        [name, version, run_id, folder, f"runs:/{run_id}/{folder}", description, current_user(),
                         now, now])
            con.execute("UPDATE internal.registered_models SET updated_time = ? WHERE name = ?", [now, name])
            _tag_run(con, run_id, f"{name} v{version}")
        return _version_record(con, name, version)


def _tag_run(con, run_id: str, label: str) -> None:
    """Add ``label`` to the run's ``registered_models`` tag, so the run table shows what became of it."""
    (run_key,) = fetch_one(con, "SELECT run_key FROM internal.runs WHERE run_id = ?", [run_id])
    row = fetch_one(con, "SELECT value FROM internal.tags WHERE run_key = ? AND key = ?",
                    [run_key, REGISTERED_TAG])
    write_tag(con, run_key, REGISTERED_TAG, f"{row[0]}, {label}" if row else label)


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
        return _version_record(con, name, version)


def set_model_alias(name: str, alias: str, version: int, *, store=None) -> ModelVersion:
    """Point ``alias`` (e.g. 'champion') at ``version``; an alias names one version at a time."""
    name, version = check_model_name(name), _check_version(version)
    if not isinstance(alias, str) or not ALIAS_PATTERN.match(alias) or alias.lower() == "latest" or \
            alias.lower() in (s.lower() for s in STAGES) or alias.isdigit():
        raise InvalidValueError(f"an alias is a word of letters, digits, '_' or '-' (not a number, a stage or "
                                f"'latest'), such as 'champion'; not {alias!r}")
    with resolve_store(store).session() as con:
        require_version(con, name, version)
        with transaction(con):
            con.execute("DELETE FROM internal.model_aliases WHERE name = ? AND alias = ?", [name, alias])
            con.execute("INSERT INTO internal.model_aliases VALUES (?, ?, ?)", [name, alias, version])
        return _version_record(con, name, version)


def delete_model_alias(name: str, alias: str, *, store=None) -> bool:
    """Remove ``alias`` from model ``name``; returns whether it existed."""
    with resolve_store(store).session() as con:
        removed = con.execute("DELETE FROM internal.model_aliases WHERE name = ? AND alias = ? RETURNING alias",
                              [check_model_name(name), alias]).fetchall()
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


def search_model_versions(name: str | None = None, *, store=None):
    """Registered versions (of ``name``, or all) as a DataFrame with their stage and aliases."""
    condition, params = ("WHERE v.name = ?", [check_model_name(name)]) if name is not None else ("", [])
    with resolve_store(store).session() as con:
        return con.execute(f"""
            SELECT v.name, v.version, v.stage,
                   coalesce(list(a.alias ORDER BY a.alias) FILTER (WHERE a.alias IS NOT NULL), []) AS aliases,
                   v.run_id, v.source, v.description, v.user_name AS "user",
                   epoch_ms(v.created_time) AS created_time
            FROM internal.model_versions v LEFT JOIN internal.model_aliases a USING (name, version)
            {condition} GROUP BY ALL ORDER BY v.name, v.version""", params).df()


def list_registered_models(*, store=None):
    """Registered models with their latest version and the version in Production, as a DataFrame."""
    with resolve_store(store).session() as con:
        return con.execute("""
            SELECT m.name, max(v.version) AS latest_version,
                   max(v.version) FILTER (WHERE v.stage = 'Production') AS production_version,
                   m.description, epoch_ms(m.updated_time) AS updated_time
            FROM internal.registered_models m LEFT JOIN internal.model_versions v USING (name)
            GROUP BY ALL ORDER BY m.name""").df()


def registered_models_with_versions(*, store=None) -> list[dict]:
    """Each registered model (by name) with its versions, newest first, as plain records: what a
    listing such as the lab sidebar shows. A version carries its stage, aliases, source run id and
    that run's name (None when the run is gone), so no second lookup per run is needed."""
    with resolve_store(store).session() as con:
        models = con.execute("SELECT name, description, created_time, updated_time FROM internal.registered_models "
                             "ORDER BY name").fetchall()
        versions = con.execute("""
            SELECT v.name, v.version, v.stage,
                   coalesce(list(a.alias ORDER BY a.alias) FILTER (WHERE a.alias IS NOT NULL), []) AS aliases,
                   v.run_id, any_value(r.run_name), v.source, v.description, v.user_name, v.created_time
            FROM internal.model_versions v
            LEFT JOIN internal.model_aliases a USING (name, version)
            LEFT JOIN internal.runs r ON r.run_id = v.run_id
            GROUP BY v.name, v.version, v.stage, v.run_id, v.source, v.description, v.user_name, v.created_time
            ORDER BY v.name, v.version DESC""").fetchall()
    by_name: dict[str, list[dict]] = {name: [] for name, *_ in models}
    for name, version, stage, aliases, run_id, run_name, source, description, user, created in versions:
        by_name.setdefault(name, []).append({
            "version": int(version), "stage": stage, "aliases": list(aliases), "run_id": run_id,
            "run_name": run_name, "source": source, "description": description, "user": user,
            "created_time": int(created)})
    return [{"name": name, "description": description, "created_time": int(created), "updated_time": int(updated),
             "versions": by_name[name]} for name, description, created, updated in models]
