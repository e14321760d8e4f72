"""``jupyter-tracker`` (also ``jupyter tracker``): the store from a terminal.

Exit codes: 0 success, 1 a tracker error (the message says what to fix), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import TrackerError


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="store directory (default: nearest .jupyter_tracker/ or $JUPYTER_TRACKER_DIR)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyter-tracker", description="Inspect a jupyter_tracker store.")
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
    doctor = commands.add_parser("doctor", help="store health: schema, journal backlog, orphaned files")
    doctor.add_argument("--json", action="store_true")
    restore = commands.add_parser("restore", help="write a run's notebook snapshot as a new .ipynb")
    restore.add_argument("run")
    restore.add_argument("path")
    restore.add_argument("--kind", choices=("executed", "saved"), default="executed")
    for sub in (ls, show, doctor, restore):
        _store_option(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        store = None
        if arguments.store:
            from .store import get_store

            store = get_store(Path(arguments.store))
        return _COMMANDS[arguments.command](arguments, store)
    except TrackerError as exc:
        print(f"jupyter-tracker: {exc}", file=sys.stderr)
        return 1


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
    import dataclasses

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
    from .query import store_health

    health = store_health(store=store)
    if arguments.json:
        print(json.dumps(health, indent=2))
    else:
        for key, value in health.items():
            print(f"{key}: {value}")
    return 0


def _restore(arguments, store) -> int:
    from .query import restore_snapshot

    print(restore_snapshot(arguments.run, arguments.path, kind=arguments.kind, store=store))
    return 0


_COMMANDS = {"ls": _ls, "show": _show, "doctor": _doctor, "restore": _restore}

if __name__ == "__main__":
    raise SystemExit(main())
