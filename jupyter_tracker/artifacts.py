"""Turning Python objects into artifact files: text, dicts (JSON/YAML), figures, tables.

Each function returns the bytes to store; the Run stores them content-addressed. Heavy
libraries (matplotlib, plotly, pandas, yaml) are imported only by the function that needs them.
"""

from __future__ import annotations

import io
import json
import mimetypes
from typing import Any

from .errors import InvalidValueError

mimetypes.add_type("application/x-parquet", ".parquet")
mimetypes.add_type("text/yaml", ".yaml")
mimetypes.add_type("text/yaml", ".yml")
mimetypes.add_type("application/x-ipynb+json", ".ipynb")


def media_type(path: str) -> str:
    """The media type of an artifact from its name (``application/octet-stream`` if unknown)."""
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


def dict_bytes(dictionary: Any, artifact_file: str) -> bytes:
    """JSON for ``.json`` (and any other suffix), YAML for ``.yaml``/``.yml``."""
    if artifact_file.endswith((".yaml", ".yml")):
        import yaml

        return yaml.safe_dump(dictionary, sort_keys=False, allow_unicode=True).encode("utf-8")
    try:
        return json.dumps(dictionary, indent=2, default=str).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"log_dict could not encode the value as JSON: {exc}") from None


def figure_bytes(figure: Any, artifact_file: str) -> bytes:
    """A matplotlib Figure (any format savefig knows, by suffix) or a plotly figure (.html/.json)."""
    module = type(figure).__module__
    suffix = artifact_file.rsplit(".", 1)[-1].lower() if "." in artifact_file else ""
    if module.startswith("matplotlib"):
        if not suffix:
            raise InvalidValueError(f"log_figure needs a file suffix for the format, e.g. {artifact_file!r} + '.png'")
        buffer = io.BytesIO()
        figure.savefig(buffer, format=suffix, bbox_inches="tight")
        return buffer.getvalue()
    if module.startswith("plotly"):
        if suffix == "json":
            return figure.to_json().encode("utf-8")
        if suffix in ("html", "htm"):
            return figure.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")
        raise InvalidValueError(
            f"log_figure stores plotly figures as .html (self-contained) or .json; got {artifact_file!r}")
    raise InvalidValueError(
        f"log_figure takes a matplotlib Figure or a plotly figure, not {type(figure).__name__}; "
        f"save other images to a file and use log_artifact()")


def table_bytes(data: Any, artifact_file: str) -> bytes:
    """A pandas DataFrame (or dict of columns) as Parquet (``.parquet``), CSV or JSON by suffix."""
    import pandas as pd

    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    if artifact_file.endswith(".csv"):
        return frame.to_csv(index=False).encode("utf-8")
    if artifact_file.endswith(".json"):
        return frame.to_json(orient="split", index=False).encode("utf-8")
    if not artifact_file.endswith(".parquet"):
        raise InvalidValueError(f"log_table writes .parquet, .csv or .json files; got {artifact_file!r}")
    import os
    import tempfile

    from .store.database import connect_duckdb

    # DuckDB writes Parquet without needing pyarrow installed.
    with tempfile.TemporaryDirectory() as folder:
        target = os.path.join(folder, "table.parquet")
        con = connect_duckdb(":memory:")  # never downloads an extension
        try:
            con.register("jt_table", frame)
            con.execute(f"COPY jt_table TO '{target}' (FORMAT parquet)")
        finally:
            con.close()
        with open(target, "rb") as reader:
            return reader.read()
