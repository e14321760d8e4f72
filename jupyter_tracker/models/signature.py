"""Model signatures: the input and output columns (or tensor shape) and dtypes a model expects.

Inferred from the input example when not given, stored as JSON beside the model, and checked on
every ``predict`` of a loaded model, so a wrong frame fails with a message naming the column
instead of a shape error deep inside the library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import SignatureMismatchError

#: dtype kinds that may be converted without losing information (int → float, bool → int ...).
_WIDENING = {"b": "biuf", "i": "if", "u": "uif", "f": "f", "O": "O", "U": "UO", "M": "M", "m": "m"}


@dataclass
class Schema:
    """Columns of a table (``columns`` = [(name, dtype)]) or one tensor (``shape`` and ``dtype``)."""

    columns: list[tuple[str, str]] = field(default_factory=list)
    shape: list[int] | None = None
    dtype: str | None = None

    def to_dict(self) -> dict:
        if self.columns:
            return {"type": "table", "columns": [{"name": n, "dtype": d} for n, d in self.columns]}
        return {"type": "tensor", "shape": self.shape, "dtype": self.dtype}

    @classmethod
    def from_dict(cls, value: dict) -> Schema:
        if value.get("type") == "table":
            return cls(columns=[(c["name"], c["dtype"]) for c in value["columns"]])
        return cls(shape=value.get("shape"), dtype=value.get("dtype"))


@dataclass
class ModelSignature:
    """What goes into the model (``inputs``) and what comes out (``outputs``, optional)."""

    inputs: Schema
    outputs: Schema | None = None

    def to_dict(self) -> dict:
        return {"inputs": self.inputs.to_dict(), "outputs": self.outputs.to_dict() if self.outputs else None}

    @classmethod
    def from_dict(cls, value: dict) -> ModelSignature:
        outputs = value.get("outputs")
        return cls(Schema.from_dict(value["inputs"]), Schema.from_dict(outputs) if outputs else None)


def infer_schema(example: Any) -> Schema:
    """The schema of a DataFrame, Series, dict of columns or array-like example."""
    import numpy as np
    import pandas as pd

    if isinstance(example, dict):
        example = pd.DataFrame(example)
    if isinstance(example, pd.Series):
        return Schema(shape=[-1], dtype=str(example.dtype))
    if isinstance(example, pd.DataFrame):
        return Schema(columns=[(str(name), str(dtype)) for name, dtype in example.dtypes.items()])
    array = np.asarray(example)
    return Schema(shape=[-1, *array.shape[1:]], dtype=str(array.dtype))


def infer_signature(model_input: Any, model_output: Any = None) -> ModelSignature:
    """A signature from an example input and (optionally) the model's output for it."""
    return ModelSignature(infer_schema(model_input),
                          infer_schema(model_output) if model_output is not None else None)


def enforce(signature: ModelSignature | None, model_input: Any) -> Any:
    """Check ``model_input`` against the signature and return it in the expected layout
    (columns reordered, safe widening casts applied). Raises SignatureMismatchError."""
    if signature is None:
        return model_input
    import numpy as np
    import pandas as pd

    schema = signature.inputs
    if schema.columns:
        if isinstance(model_input, dict):
            model_input = pd.DataFrame(model_input)
        if not isinstance(model_input, pd.DataFrame):
            names = ", ".join(n for n, _ in schema.columns)
            raise SignatureMismatchError(
                f"this model takes a DataFrame with columns [{names}], not {type(model_input).__name__}; "
                f"build one with pandas.DataFrame(values, columns=[...])")
        missing = [n for n, _ in schema.columns if n not in model_input.columns]
        if missing:
            raise SignatureMismatchError(
                f"the input lacks column(s) {', '.join(map(repr, missing))} that the model's signature requires "
                f"(it expects {[n for n, _ in schema.columns]}, got {list(map(str, model_input.columns))})")
        frame = model_input[[n for n, _ in schema.columns]].copy()
        for name, dtype in schema.columns:
            frame[name] = _cast(frame[name], dtype, f"column {name!r}")
        return frame
    array = np.asarray(model_input)
    expected = schema.shape or []
    if expected and (array.ndim != len(expected) or any(
            want not in (-1, got) for want, got in zip(expected, array.shape))):
        raise SignatureMismatchError(
            f"the input has shape {list(array.shape)} but the model's signature expects {expected} "
            f"(-1 means any size)")
    return _cast(array, schema.dtype, "the input") if schema.dtype else array


def _cast(values, dtype: str, what: str):
    import numpy as np

    try:
        want = np.dtype(dtype)
    except TypeError:  # pandas extension dtypes (category, string, Int64): leave as they are
        return values
    have = values.dtype if hasattr(values, "dtype") else np.asarray(values).dtype
    if getattr(have, "kind", None) is None or have == want:
        return values
    narrowing = want.kind == have.kind and want.itemsize < have.itemsize
    if want.kind not in _WIDENING.get(have.kind, "") or narrowing:
        raise SignatureMismatchError(
            f"{what} has dtype {have} but the model's signature expects {want}, and {have} → {want} "
            f"can lose information; convert it explicitly (e.g. .astype({str(want)!r}))")
    return values.astype(want)
