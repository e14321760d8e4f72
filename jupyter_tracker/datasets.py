"""``log_input``: record which data a run saw, by content digest, schema, size and a small profile.

The data itself is not stored unless ``store_data=True`` (then once per content, in the object
store, however many runs log it). Digests are stable across runs and processes: the same frame
gives the same digest, and changing one value changes it, so ``search_runs(filter="datasets.digest
= '...'")`` finds every run trained on exactly that data.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from . import validation
from .clock import now_ms
from .errors import InvalidValueError
from .store import events
from .store.objects import sha256_file

#: Columns profiled at most (wide tables keep a bounded profile).
PROFILE_COLUMNS = 100
_CONTEXT_MAX = 100


def _frame_description(frame) -> tuple[str, dict, dict, int]:
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    schema = {"columns": [{"name": str(c), "dtype": str(t)} for c, t in frame.dtypes.items()]}
    profile = {}
    for column in list(frame.columns)[:PROFILE_COLUMNS]:
        values = frame[column]
        entry: dict[str, Any] = {"nulls": int(values.isna().sum())}
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            valid = values.dropna()
            if len(valid):
                entry["min"], entry["max"] = _plain(valid.min()), _plain(valid.max())
        profile[str(column)] = entry
    return digest.hexdigest(), schema, profile, len(frame)


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def _array_description(array) -> tuple[str, dict, dict, int]:
    import numpy as np

    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    if array.dtype.kind == "O":
        digest.update(repr(array.tolist()).encode())
    else:
        digest.update(array.tobytes())
    schema = {"shape": list(array.shape), "dtype": str(array.dtype)}
    profile: dict[str, Any] = {}
    if array.size and array.dtype.kind in "biuf":
        nulls = int(np.isnan(array).sum()) if array.dtype.kind == "f" else 0
        profile = {"nulls": nulls, "min": _plain(np.nanmin(array)), "max": _plain(np.nanmax(array))}
    return digest.hexdigest(), schema, profile, int(array.shape[0]) if array.ndim else 1


def _file_description(path: Path) -> tuple[str, dict, dict, int | None]:
    content_hash = sha256_file(path)
    schema, profile, rows = {"format": path.suffix.lstrip(".") or "file"}, {}, None
    if path.suffix.lower() in (".csv", ".parquet", ".tsv", ".json"):
        from .store.database import connect_duckdb

        con = connect_duckdb(":memory:")  # never downloads an extension
        try:
            # DuckDB reads CSV, Parquet and JSON by suffix; the path is quoted as an SQL string literal.
            quoted = str(path).replace("'", "''")
            frame = con.sql(f"SELECT * FROM '{quoted}'").df()
        finally:
            con.close()
        _, table_schema, profile, rows = _frame_description(frame)
        schema.update(table_schema)
    return content_hash, schema, profile, rows


def describe(data: Any) -> dict:
    """Digest, schema, profile and row count of a DataFrame, Arrow table, array or file path."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise InvalidValueError(f"log_input: {str(data)!r} is not a file; pass a DataFrame, an array, "
                                    f"an Arrow table or the path of an existing file")
        digest, schema, profile, rows = _file_description(path)
        return {"digest": digest, "schema": schema, "profile": profile, "num_rows": rows,
                "source": str(path.resolve()), "kind": "file", "name": path.name}
    module = type(data).__module__.split(".")[0]
    if module == "pyarrow":
        data = data.to_pandas()
        module = "pandas"
    import pandas as pd

    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        digest, schema, profile, rows = _frame_description(data)
        kind = "dataframe"
    else:
        import numpy as np

        try:
            array = np.asarray(data)
        except (TypeError, ValueError):
            array = None
        if array is None or array.dtype.kind == "O" and array.ndim == 0:
            raise InvalidValueError(
                f"log_input takes a pandas DataFrame, an Arrow table, a NumPy array or a file path, "
                f"not {type(data).__name__}")
        digest, schema, profile, rows = _array_description(array)
        kind = "ndarray"
    return {"digest": digest, "schema": schema, "profile": profile, "num_rows": rows, "source": None,
            "kind": kind, "name": None}


def _data_bytes(data: Any) -> bytes:
    import io

    if isinstance(data, (str, os.PathLike)):
        return Path(data).read_bytes()
    import numpy as np
    import pandas as pd

    if type(data).__module__.split(".")[0] == "pyarrow":
        data = data.to_pandas()
    if isinstance(data, (pd.DataFrame, pd.Series)):
        from .artifacts import table_bytes

        return table_bytes(data if isinstance(data, pd.DataFrame) else data.to_frame(), "data.parquet")
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(data), allow_pickle=False)
    return buffer.getvalue()


def log_input(run, data: Any, name: str | None = None, context: str = "training", *,
              source: str | None = None, store_data: bool = False) -> dict:
    """Record ``data`` as an input of ``run`` under ``context`` (training, validation, test ...).

    Returns the description (name, digest, source, schema, profile, num_rows). Logging the same
    data with the same context twice in one run records it once.
    """
    if not isinstance(context, str) or not context.strip() or len(context) > _CONTEXT_MAX:
        raise InvalidValueError(f"context is a short label such as 'training' or 'test', not {context!r}")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InvalidValueError(f"a dataset name is a non-empty string, not {name!r}")
    validation.text(context, "dataset context")
    if name is not None:
        validation.text(name, "dataset name")
    description = describe(data)
    description["name"] = name or validation.escaped_text(description["name"] or "") or \
        f"dataset-{description['digest'][:8]}"
    description["context"] = context
    if source is not None:
        description["source"] = validation.text(str(source), "dataset source")
    elif description.get("source"):
        description["source"] = validation.escaped_text(description["source"])
    seen = run.__dict__.setdefault("_logged_inputs", set())
    key = (description["digest"], context, description["name"])
    if key in seen:
        return description
    if store_data:
        sha256 = run.store.objects.put_bytes(_data_bytes(data))
        description["schema"]["stored_object"] = sha256
    run.record_input(events.input_used(
        run.slot, description["name"], description["digest"], description["source"], context,
        json.dumps(description["schema"]), json.dumps(description["profile"], default=str),
        description["num_rows"], now_ms()))
    seen.add(key)
    return description

