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

from .errors import InvalidValueError, SyncError, TrackerError

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
    subcommands = [ls, show, doctor, restore]
    subcommands += _sharing_commands(commands)
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
    gc = commands.add_parser("gc", help="purge deleted runs and remove files no run refers to")
    gc.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    gc.add_argument("--grace", type=float, default=3600, metavar="SECONDS",
                    help="keep files younger than this, which a running run may be about to refer to (default 3600)")
    importer = commands.add_parser("import-from", help="import the runs of W&B, Trackio, Aim or MLflow (twice adds "
                                                       "nothing)")
    importer.add_argument("kind", choices=("wandb", "trackio", "aim", "mlflow"))
    importer.add_argument("source", help="wandb folder, Trackio folder, Aim repository or MLflow tracking URI")
    importer.add_argument("-e", "--experiment", help="put every run into this experiment (mlflow: the MLflow "
                                                     "experiment to import; default: all)")
    subcommands = [export, load, share, diff, push, pull, gc, importer]
    for sub in subcommands:
        sub.add_argument("--json", action="store_true", help="print the result as JSON")
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return subcommands


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    try:
        store = None
        if arguments.store:
            from .store import get_store

            store = get_store(Path(arguments.store))
        return _COMMANDS[arguments.command](arguments, store)
    except _UsageError as exc:
        parser.error(str(exc))
    except SyncError as exc:
        print(f"jupyter-tracker: {exc}", file=sys.stderr)
        return EXIT_SYNC
    except TrackerError as exc:
        print(f"jupyter-tracker: {exc}", file=sys.stderr)
        return EXIT_ERROR


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
        columns = ["run_id", "run_name", "experiment", "status", "start_time", "duration_s"]
        shown = frame[columns + [c for c in frame.columns if c.startswith("metrics.")][:4]].copy()
        shown["run_id"] = shown["run_id"].str[:8]
        print(shown.to_string(index=False))
    return 0


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
                print(f"  {key} = {value}")
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

    print(restore_snapshot(arguments.run, arguments.path, kind=arguments.kind, store=store))
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
    from .sharing.mlflow_sync import push

    uri = _require_uri(arguments)
    result = push(_selected_runs(arguments, store), uri, experiment=arguments.mlflow_experiment, store=store,
                  progress=not arguments.quiet)
    lines = [f"pushed {len(result.mlflow_run_ids) - len(result.skipped)} run(s) to {uri} "
             f"({result.points_sent} metric points, {result.model_versions} model version(s)); "
             f"{len(result.skipped)} were already there"]
    lines += [f"note: {p['key']} step {p['step']} of run {p['run_id'][:8]} is {p['value']}; MLflow stores it as "
              f"±1.797e308 (pull puts it back)" for p in result.clamped]
    return _print_result(arguments, dataclasses.asdict(result), lines)


def _pull(arguments, store) -> int:
    from .sharing.mlflow_sync import pull

    uri = _require_uri(arguments)
    result = pull(uri, arguments.experiment, arguments.filter, max_results=arguments.max_results, store=store,
                  progress=not arguments.quiet)
    return _print_result(arguments, dataclasses.asdict(result), [
        f"pulled {len(result.imported)} run(s) ({result.metric_points} metric points); "
        f"{len(result.skipped)} already in the store"])


def _gc(arguments, store) -> int:
    from .cleanup import collect_garbage

    report = collect_garbage(dry_run=arguments.dry_run, grace_seconds=arguments.grace, store=store)
    verb = "would remove" if report.dry_run else "removed"
    return _print_result(arguments, dataclasses.asdict(report), [
        f"{verb} {len(report.removed_objects)} file(s) ({report.removed_bytes} bytes) and "
        f"{len(report.purged_runs)} deleted run(s); kept {report.kept_recent} recent unreferenced file(s)"])


def _import_from(arguments, store) -> int:
    from .sharing.importers import import_from

    result = import_from(arguments.kind, arguments.source, arguments.experiment, progress=not arguments.quiet,
                         store=store)
    return _print_result(arguments, dataclasses.asdict(result), [result.summary()])


_COMMANDS = {"ls": _ls, "show": _show, "doctor": _doctor, "restore": _restore, "export": _export,
             "import": _import, "share": _share, "diff": _diff, "push": _push, "pull": _pull, "gc": _gc}
_COMMANDS["import-from"] = _import_from

if __name__ == "__main__":
    raise SystemExit(main())
