"""``jupyter-tracker`` (also ``jupyter tracker``): the store from a terminal.

Exit codes: 0 success, 1 a tracker error (the message says what to fix), 2 bad usage, 3 the MLflow
server could not be reached or failed during push/pull (nothing local was lost; run it again).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from .errors import InvalidValueError, StoreNotFoundError, SyncError, TrackerError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_SYNC = 0, 1, 2, 3


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="store directory (default: nearest .jupyter_tracker/ or $JUPYTER_TRACKER_DIR)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter-tracker", description="Inspect, share and sync a jupyter_tracker store.",
        epilog="exit codes: 0 success, 1 a tracker error (the message names the fix), 2 bad usage, 3 the MLflow "
               "server could not be reached or failed (nothing local was lost; run the same command again)")
    commands = parser.add_subparsers(dest="command", required=True)
    ls = commands.add_parser("ls", help="list runs, newest first")
    ls.add_argument("-e", "--experiment", action="append", help="only this experiment (repeatable)")
    ls.add_argument("-f", "--filter", help="filter, e.g. \"metrics.acc > 0.9 and params.lr = '0.01'\"")
    ls.add_argument("-o", "--order-by", action="append", help="e.g. 'metrics.acc DESC' (repeatable)")
    ls.add_argument("-n", "--max-results", type=int, default=50)
    ls.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    show = commands.add_parser("show", help="everything about one run")
    show.add_argument("run", help="run id or a unique prefix of it")
    show.add_argument("--json", action="store_true")
    doctor = commands.add_parser("doctor", help="store health: schema, journal backlog, set-aside records, missing and "
                                  "unreferenced objects (exit 1 when it finds a problem)")
    doctor.add_argument("--json", action="store_true")
    doctor.add_argument("--salvage", metavar="NEW_STORE",
                        help="build a new store in NEW_STORE from what this store's journals and objects still "
                             "hold (for a damaged database); this store is left as it is")
    restore = commands.add_parser("restore", help="write a run's notebook snapshot as a new .ipynb")
    restore.add_argument("run")
    restore.add_argument("path")
    restore.add_argument("--kind", choices=("executed", "saved"), default="executed")
    restore.add_argument("--overwrite", action="store_true", help="replace PATH if it exists")
    subcommands = [ls, show, doctor, restore]
    subcommands += _sharing_commands(commands)
    subcommands.append(_reproduce_command(commands))
    for sub in subcommands:
        _store_option(sub)
    return parser


def _selection_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN", help=f"run ids (or unique prefixes) to {what}; "
                        f"nested runs come along")
    parser.add_argument("-e", "--experiment", action="append", help="every run of this experiment (repeatable)")
    parser.add_argument("-f", "--filter", help="every run matching this filter, e.g. \"metrics.acc > 0.9\"")


def _sharing_commands(commands) -> list[argparse.ArgumentParser]:
    export = commands.add_parser("export", help="write runs into one .jtrack bundle file")
    _selection_options(export, "export")
    export.add_argument("-o", "--output", required=True, help="the bundle file to write, e.g. churn-best.jtrack")
    export.add_argument("--max-artifact-bytes", type=int, help="leave out artifact files larger than this")
    export.add_argument("--no-children", action="store_true", help="do not add the runs' nested runs")
    export.add_argument("--overwrite", action="store_true")
    load = commands.add_parser("import", help="import the runs of a .jtrack bundle (importing twice adds nothing)")
    load.add_argument("path")
    share = commands.add_parser("share", help="write a run's notebook with its card and charts as .html or .ipynb")
    share.add_argument("run")
    share.add_argument("path")
    share.add_argument("--overwrite", action="store_true")
    diff = commands.add_parser("diff", help="cells and params that changed between the notebooks of two runs")
    diff.add_argument("run_a")
    diff.add_argument("run_b")
    diff.add_argument("--kind", choices=("executed", "saved"), default="executed")
    push = commands.add_parser("push", help="send runs to an MLflow tracking server (resumable)")
    _selection_options(push, "push")
    pull = commands.add_parser("pull", help="bring runs of an MLflow experiment into the store")
    pull.add_argument("-e", "--experiment", required=True, help="the MLflow experiment to pull")
    pull.add_argument("-f", "--filter", help="MLflow filter string, e.g. \"metrics.acc > 0.9\"")
    pull.add_argument("-n", "--max-results", type=int, default=10_000)
    for sub in (push, pull):
        sub.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                         help="the MLflow server, e.g. http://mlflow.example:5000 (default: $MLFLOW_TRACKING_URI)")
    push.add_argument("--mlflow-experiment", help="MLflow experiment to push into (default: each run's own)")
    importer = commands.add_parser("import-from", help="import the runs of W&B, Trackio, Aim or MLflow (twice adds "
                                                       "nothing)")
    importer.add_argument("kind", choices=("wandb", "trackio", "aim", "mlflow"))
    importer.add_argument("source", help="wandb folder, Trackio folder, Aim repository or MLflow tracking URI")
    importer.add_argument("-e", "--experiment", help="put every run into this experiment (mlflow: the MLflow "
                                                     "experiment to import; default: all)")
    sync = commands.add_parser("sync", help="mirror the store's runs to the team's MLflow server "
                               "($JUPYTER_TRACKER_REMOTE), exactly once; without --once it keeps mirroring until "
                               "interrupted")
    sync.add_argument("--remote", help="the MLflow server, e.g. http://mlflow.team:5000 (default: "
                                       "$JUPYTER_TRACKER_REMOTE)")
    sync.add_argument("-e", "--experiment", action="append", help="only this experiment (repeatable)")
    sync.add_argument("--once", action="store_true", help="send what is pending, then exit")
    sync.add_argument("--status", action="store_true", help="print each run's sync state and exit")
    subcommands = [export, load, share, diff, push, pull, *_cleanup_commands(commands), importer, sync]
    for sub in subcommands:
        sub.add_argument("--json", action="store_true", help="print the result as JSON")
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return subcommands


def _cleanup_commands(commands) -> list[argparse.ArgumentParser]:
    """rm, undelete, gc and compact (see ``cleanup``)."""
    rm = commands.add_parser("rm", help="delete the runs an experiment and/or filter selects, with their nested "
                             "runs (restorable with undelete until gc)")
    rm.add_argument("-e", "--experiment", action="append", help="runs of this experiment (repeatable)")
    rm.add_argument("-f", "--filter", help="runs matching this filter, e.g. \"metrics.acc < 0.5\"")
    rm.add_argument("--dry-run", action="store_true", help="only report what would be deleted")
    rm.add_argument("--include-registered", action="store_true",
                    help="also delete runs that registered model versions point at (kept otherwise)")
    undelete = commands.add_parser("undelete", help="bring back a deleted run and its nested runs (until gc)")
    undelete.add_argument("run", help="the deleted run's id or a unique prefix of it")
    gc = commands.add_parser("gc", help="purge deleted runs and remove files no run refers to")
    gc.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    gc.add_argument("--grace", type=float, default=3600, metavar="SECONDS",
                    help="keep files younger than this, which a running run may be about to refer to (default 3600)")
    gc.add_argument("--older-than", metavar="AGE", help="retention: also delete runs started more than AGE ago "
                    "(e.g. 90d, 12h, 2w)")
    gc.add_argument("--keep", metavar="FILTER", help="retention: never delete runs matching this filter, e.g. "
                    "\"tags.keep = 'true'\"")
    gc.add_argument("--compact", action="store_true", help="then rewrite the database file so its size follows "
                    "what is left")
    compact = commands.add_parser("compact", help="rewrite the database file so its size follows what it stores "
                                  "(safe while other processes log)")
    return [rm, undelete, gc, compact]


def _rm(arguments, store) -> int:
    from .cleanup import delete_runs

    if not arguments.experiment and not arguments.filter:
        raise _UsageError("rm: select runs with -e EXPERIMENT and/or -f FILTER")
    _require_existing_store(store, named=bool(arguments.store))   # never create one to clean it
    experiment = arguments.experiment[0] if arguments.experiment and len(arguments.experiment) == 1 \
        else arguments.experiment
    report = delete_runs(experiment, arguments.filter, dry_run=arguments.dry_run,
                         include_registered=arguments.include_registered, store=store)
    return _print_result(arguments, dataclasses.asdict(report), [report.summary()])


def _undelete(arguments, store) -> int:
    from .cleanup import restore_run

    _require_existing_store(store, named=bool(arguments.store))   # never create one to clean it
    restored = restore_run(arguments.run, store=store)
    return _print_result(arguments, {"restored": restored}, [f"restored {len(restored)} run(s): "
                                                             f"{', '.join(restored)}"])


def _gc(arguments, store) -> int:
    from .cleanup import collect_garbage

    if arguments.keep and not arguments.older_than:
        raise _UsageError("gc: --keep is part of a retention rule; give --older-than AGE too")
    _require_existing_store(store, named=bool(arguments.store))   # never create one to clean it
    report = collect_garbage(dry_run=arguments.dry_run, grace_seconds=arguments.grace,
                             older_than=arguments.older_than, keep=arguments.keep, compact=arguments.compact,
                             store=store)
    data = {**dataclasses.asdict(report), "reclaimed_bytes": report.reclaimed_bytes}
    return _print_result(arguments, data, [report.summary()])


def _compact(arguments, store) -> int:
    from .cleanup import compact

    _require_existing_store(store, named=bool(arguments.store))   # never create one to clean it
    report = compact(store=store)
    return _print_result(arguments, {**dataclasses.asdict(report), "reclaimed_bytes": report.reclaimed_bytes},
                         [str(report)])


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    try:
        store = None
        if arguments.store:
            from .store import get_store

            store = get_store(Path(arguments.store))
        if arguments.command in _READS:
            _require_existing_store(store, named=bool(arguments.store))
        return _COMMANDS[arguments.command](arguments, store)
    except _UsageError as exc:
        parser.error(str(exc))
    except SyncError as exc:
        print(f"jupyter-tracker: {_in_cli_words(str(exc))}", file=sys.stderr)
        return EXIT_SYNC
    except TrackerError as exc:
        print(f"jupyter-tracker: {_in_cli_words(str(exc))}", file=sys.stderr)
        return EXIT_ERROR


_READS = {"ls", "show", "restore", "export", "share", "diff", "doctor", "reproduce"}
"""Commands that only read the store (or, like gc, only clean it): they must never create one where none is."""

_CLI_WORDS = [
    ("choose another path or pass overwrite=True", "choose another path or add --overwrite"),
    ("pass overwrite=True", "add --overwrite"),
    ("list runs with jt.search_runs()", "list runs with `jupyter-tracker ls`"),
    ("jt.search_runs()", "`jupyter-tracker ls`"),
    ("jt.set_store('/path/to/your/store') or JUPYTER_TRACKER_DIR",
     "--store /path/to/your/store or JUPYTER_TRACKER_DIR"),
    ("jt.set_store()", "--store"),
    ("jt.sql()", "`jupyter-tracker ls --json`"),
]
"""The library's messages name Python calls as fixes; in a terminal the fix is a flag or a command."""


def _in_cli_words(message: str) -> str:
    for python, cli in _CLI_WORDS:
        message = message.replace(python, cli)
    return message


def _require_existing_store(store, named: bool) -> None:
    """A read of a store that does not exist says so instead of creating an empty one."""
    from .store.current import resolve_store

    store = resolve_store(store)
    if store.db_path.exists() or store.journal_dir.is_dir():
        return
    where = "at" if named else "for this folder: the nearest would be"
    raise StoreNotFoundError(f"no store {where} {store.root}; nothing has been logged there. Check the path "
                             f"(--store DIR or $JUPYTER_TRACKER_DIR), or log a run there first")


class _UsageError(Exception):
    """Arguments that parse but do not make sense together (exit code 2, like argparse's own)."""


def _ls(arguments, store) -> int:
    from .query import search_runs

    frame = search_runs(experiment=arguments.experiment, filter=arguments.filter, order_by=arguments.order_by,
                        max_results=arguments.max_results, store=store)
    if arguments.json:
        for record in json.loads(frame.to_json(orient="records", date_format="iso")):
            print(json.dumps(record))
    elif frame.empty:
        print("no runs")
    else:
        print(_runs_table(frame))
    return 0


def _runs_table(frame) -> str:
    """The runs as a table that fits the terminal: id, name, experiment, status, start, duration, then
    the metrics and params these runs have (columns that are empty for every shown run are left out),
    as many as fit; the rest are named in a last line."""
    import shutil

    base = ["run_id", "run_name", "experiment", "status", "start_time", "duration_s"]
    extra = [c for c in frame.columns if c.startswith(("metrics.", "params.")) and frame[c].notna().any()]
    extra.sort(key=lambda c: (not c.startswith("metrics."), c))
    shown = frame[base + extra].copy()
    shown["run_id"] = shown["run_id"].str[:8]
    shown["start_time"] = shown["start_time"].dt.strftime("%Y-%m-%d %H:%M")
    shown["duration_s"] = shown["duration_s"].map(lambda v: "" if v != v else f"{v:.1f}")
    for column in extra:
        shown[column] = shown[column].map(_format_value)
    width = shutil.get_terminal_size((120, 24)).columns
    columns = list(base)
    for column in extra:
        if len(shown[columns + [column]].to_string(index=False).splitlines()[0]) > width:
            break
        columns.append(column)
    text = shown[columns].to_string(index=False)
    left_out = extra[len(columns) - len(base):]
    if left_out:
        text += f"\n(+{len(left_out)} more column(s): {', '.join(left_out[:6])}{' …' if len(left_out) > 6 else ''}; " \
                f"see them with `jupyter-tracker show RUN` or --json)"
    return text


def _format_value(value) -> str:
    """A value as a person reads it: floats to 10 significant digits (0.30000000000000004 → 0.3), missing as
    blank; the stored value stays exact (--json prints it)."""
    if value is None or isinstance(value, float) and value != value:
        return ""
    if isinstance(value, float):
        return format(value, ".10g")
    if isinstance(value, str) and any(mark in value for mark in ".eE") and len(value) > 12:
        try:
            number = float(value)
        except ValueError:
            return value
        if repr(number) == value:   # a float logged as a param: str(0.1 * 3) is 0.30000000000000004
            return format(number, ".10g")
    return str(value)


def _show(arguments, store) -> int:
    from .query import get_run

    record = get_run(arguments.run, store=store)
    data = dataclasses.asdict(record)
    if arguments.json:
        print(json.dumps(data, default=str, indent=2))
        return 0
    print(f"{record.run_name}  ({record.run_id})\n{record.status} · {record.experiment} · "
          f"started {record.start_time:%Y-%m-%d %H:%M:%S} UTC · {record.duration_s:.2f} s")
    for title, values in (("params", record.params), ("metrics", record.metrics), ("tags", record.tags)):
        if values:
            print(f"\n{title}:")
            for key, value in values.items():
                print(f"  {key} = {_format_value(value)}")
    if record.artifacts:
        print("\nartifacts:")
        for artifact in record.artifacts:
            print(f"  {artifact.path}  ({artifact.size} bytes, {artifact.media_type})")
    if record.error:
        print(f"\nerror: {record.error['type']}: {record.error['message']}")
    return 0


def _doctor(arguments, store) -> int:
    from .health import salvage, store_health

    if arguments.salvage:
        salvaged = salvage(store, Path(arguments.salvage))
        return _print_result(arguments, salvaged, [
            f"salvaged {salvaged['runs']} run(s), {salvaged['metric_points']} metric point(s) and "
            f"{salvaged['objects']} object(s) into {salvaged['store']}",
            "runs whose records were only in the damaged database (merged before the damage) are not there; "
            "restore tracker.duckdb from a backup to get them back"])
    health = store_health(store=store)
    if arguments.json:
        print(json.dumps(health, indent=2))
    else:
        for key, value in health.items():
            if key != "problems":
                print(f"{key}: {value}")
        for problem in health["problems"]:
            print(f"problem: {problem}")
    return 1 if health["problems"] else 0


def _restore(arguments, store) -> int:
    from .query import restore_snapshot

    print(restore_snapshot(arguments.run, arguments.path, kind=arguments.kind, overwrite=arguments.overwrite,
                           store=store))
    return 0


def _print_result(arguments, data: dict, lines: list[str]) -> int:
    if arguments.json:
        print(json.dumps(data, default=str, indent=2))
    else:
        print("\n".join(lines))
    return EXIT_OK


def _selected_runs(arguments, store) -> list[str]:
    if arguments.runs:
        return list(arguments.runs)
    if not arguments.experiment and not arguments.filter:
        raise _UsageError(f"{arguments.command}: give run ids, or select runs with -e EXPERIMENT and/or -f FILTER")
    from .query import search_runs

    run_ids = search_runs(experiment=arguments.experiment, filter=arguments.filter, store=store)["run_id"].tolist()
    if not run_ids:
        raise InvalidValueError(f"no run matches experiment={arguments.experiment} filter={arguments.filter!r}; "
                                f"check the selection with `jupyter-tracker ls`")
    return run_ids


def _export(arguments, store) -> int:
    from .sharing.bundle import export_runs

    result = export_runs(_selected_runs(arguments, store), arguments.output, store=store,
                         include_children=not arguments.no_children, max_artifact_bytes=arguments.max_artifact_bytes,
                         overwrite=arguments.overwrite, progress=not arguments.quiet)
    lines = [f"wrote {result.path} ({result.bytes} bytes): {len(result.run_ids)} run(s), "
             f"{result.metric_points} metric points, {result.artifacts} file(s)"]
    lines += [f"left out {item['path']} of run {item['run_id'][:8]} ({item['size']} bytes)"
              for item in result.omitted_artifacts]
    return _print_result(arguments, dataclasses.asdict(result), lines)


def _import(arguments, store) -> int:
    from .sharing.bundle import import_runs

    result = import_runs(arguments.path, store=store, progress=not arguments.quiet)
    return _print_result(arguments, dataclasses.asdict(result), [
        f"imported {len(result.imported)} run(s) ({result.metric_points} metric points, {result.model_versions} "
        f"model version(s)); {len(result.skipped)} already in the store"])


def _share(arguments, store) -> int:
    from .sharing.report import share_snapshot

    path = share_snapshot(arguments.run, arguments.path, overwrite=arguments.overwrite, store=store)
    return _print_result(arguments, {"path": str(path)}, [str(path)])


def _diff(arguments, store) -> int:
    from .sharing.diff import diff_snapshots

    diff = diff_snapshots(arguments.run_a, arguments.run_b, arguments.kind, store=store)
    return _print_result(arguments, diff.to_dict(), [str(diff)])


def _require_uri(arguments) -> str:
    if not arguments.tracking_uri:
        raise _UsageError(f"{arguments.command}: give --tracking-uri http://HOST:PORT or set MLFLOW_TRACKING_URI")
    return arguments.tracking_uri


def _push(arguments, store) -> int:
    from .sharing.mlflow_push import push

    uri = _require_uri(arguments)
    _require_existing_store(store, named=bool(arguments.store))   # a read, after the usage checks
    result = push(_selected_runs(arguments, store), uri, experiment=arguments.mlflow_experiment, store=store,
                  progress=not arguments.quiet)
    lines = [f"pushed {len(result.mlflow_run_ids) - len(result.skipped)} run(s) to {uri} "
             f"({result.points_sent} metric points, {result.model_versions} model version(s)); "
             f"{len(result.skipped)} were already there"]
    lines += [f"note: {p['key']} step {p['step']} of run {p['run_id'][:8]} is {p['value']}; MLflow stores it as "
              f"±1.797e308 (pull puts it back)" for p in result.clamped]
    return _print_result(arguments, dataclasses.asdict(result), lines)


def _pull(arguments, store) -> int:
    from .sharing.mlflow_pull import pull

    uri = _require_uri(arguments)
    result = pull(uri, arguments.experiment, arguments.filter, max_results=arguments.max_results, store=store,
                  progress=not arguments.quiet)
    return _print_result(arguments, dataclasses.asdict(result), [
        f"pulled {len(result.imported)} run(s) ({result.metric_points} metric points); "
        f"{len(result.skipped)} already in the store"])


def _sync(arguments, store) -> int:
    from .sharing import sync

    if arguments.status:
        frame = sync.sync_status(arguments.remote, store=store)
        if arguments.json:
            print(frame.to_json(orient="records", date_format="iso", lines=True))
        else:
            print(frame.to_string(index=False) if len(frame) else "no runs to mirror")
        return EXIT_OK
    if not arguments.once:
        sync.sync_forever(arguments.remote, experiments=arguments.experiment, store=store)
        return EXIT_OK
    report = sync.sync_once(arguments.remote, experiments=arguments.experiment, store=store)
    lines = [f"sent {report.runs_sent} run(s), {report.points_sent} metric points; "
             f"{len(report.failed)} failed"] + [f"failed: {run_id[:8]}: {why}" for run_id, why in report.failed.items()]
    _print_result(arguments, dataclasses.asdict(report), lines)
    return EXIT_SYNC if report.failed else EXIT_OK


def _reproduce_command(commands) -> argparse.ArgumentParser:
    reproduce = commands.add_parser(
        "reproduce", help="run a run's slice (or saved notebook) again in a fresh kernel and compare "
                          "(exit 0 reproduced, 4 differs, 5 failed)")
    reproduce.add_argument("run")
    reproduce.add_argument("--from", dest="from_", choices=("slice", "saved"), default="slice",
                           help="slice: the executions the run depended on, in the order they ran (default); "
                                "saved: the saved notebook top to bottom")
    reproduce.add_argument("--timeout", type=float, default=600.0, metavar="S", help="seconds per cell (default 600)")
    reproduce.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance of metrics (default 1e-6)")
    reproduce.add_argument("--json", action="store_true", help="print the result as JSON")
    return reproduce


#: ``reproduce`` exit codes: the comparison differs, or the reproduction failed to run.
EXIT_DIFFERS, EXIT_FAILED = 4, 5


def _reproduce(arguments, store) -> int:
    from .sharing.reproduce import DIFFERS, REPRODUCED, reproduce

    result = reproduce(arguments.run, arguments.from_, timeout=arguments.timeout, rtol=arguments.rtol, store=store)
    print(json.dumps(result.to_dict(), default=str) if arguments.json else str(result))
    return EXIT_OK if result.status == REPRODUCED else EXIT_DIFFERS if result.status == DIFFERS else EXIT_FAILED


def _import_from(arguments, store) -> int:
    from .sharing.importers import import_from

    result = import_from(arguments.kind, arguments.source, arguments.experiment, progress=not arguments.quiet,
                         store=store)
    return _print_result(arguments, dataclasses.asdict(result), [result.summary()])


_COMMANDS = {"ls": _ls, "show": _show, "doctor": _doctor, "restore": _restore, "export": _export,
             "import": _import, "share": _share, "diff": _diff, "push": _push, "pull": _pull, "gc": _gc,
             "rm": _rm, "undelete": _undelete, "compact": _compact, "reproduce": _reproduce,
             "import-from": _import_from, "sync": _sync}

if __name__ == "__main__":
    raise SystemExit(main())
