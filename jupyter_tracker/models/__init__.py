"""Logging a trained model as run artifacts and loading it back: ``log_model`` and ``load_model``.

A model named ``model`` in run ``R`` is the artifact folder ``model/`` of that run::

    model/MLmodel.json         flavor, class, signature, library versions, files
    model/<serialized model>   model.skops | state_dict.pt | model.ubj | model.lgb.txt | model.keras | model.pkl
    model/input_example.json   the example the signature was inferred from (if given)
    model/requirements.txt     pinned packages needed to load it

It is addressed as ``runs:/R/model``, or as ``models:/<name>/<version|alias|stage>`` once registered.
"""

from __future__ import annotations

import json
import platform
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ..clock import now_ms
from ..errors import InvalidValueError
from ..model_uri import METADATA_FILE, model_files
from .flavors import BY_NAME, PythonModel, flavor_for
from .signature import ModelSignature, enforce, infer_signature

__all__ = ["LoadedModel", "ModelInfo", "ModelSignature", "PackageVersionWarning", "PythonModel",
           "infer_signature", "load_model", "log_model"]


class PackageVersionWarning(UserWarning):
    """The model was saved with other versions of its libraries than the ones installed now."""


@dataclass
class ModelInfo:
    """What ``log_model`` stored: where, in which flavor, with which signature."""

    run_id: str
    name: str
    model_uri: str
    flavor: str
    signature: ModelSignature | None
    requirements: list[str]


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _distribution_versions(names) -> dict[str, str]:
    found = {}
    for name in names:
        version = _installed_version(name) or (_installed_version(f"{name}-cpu") if name == "xgboost" else None)
        if version:
            found[name] = version
    return found


def _example_json(example: Any) -> dict:
    import numpy as np
    import pandas as pd

    if isinstance(example, dict):
        example = pd.DataFrame(example)
    if isinstance(example, pd.DataFrame):
        return {"type": "dataframe", "data": json.loads(example.to_json(orient="split", index=False)),
                "dtypes": {str(k): str(v) for k, v in example.dtypes.items()}}
    array = np.asarray(example)
    return {"type": "ndarray", "data": array.tolist(), "dtype": str(array.dtype)}


def _example_value(stored: dict) -> Any:
    import numpy as np
    import pandas as pd

    if stored["type"] == "dataframe":
        data = stored["data"]
        frame = pd.DataFrame(data["data"], columns=data["columns"])
        return frame.astype(stored["dtypes"])
    return np.asarray(stored["data"], dtype=stored["dtype"])


def log_model(run, model: Any, name: str = "model", *, signature: ModelSignature | dict | None = None,
              input_example: Any = None, pip_requirements: list[str] | None = None) -> ModelInfo:
    """Store ``model`` as the artifact folder ``name/`` of ``run`` (see the module docstring).

    The signature is inferred from ``input_example`` (and the model's prediction for it) when not
    given; ``pip_requirements`` adds to the pinned packages the flavor needs.
    """
    from .. import validation

    prefix = validation.artifact_path(name, "name")
    if not prefix:
        raise InvalidValueError("log_model needs a name for the model's folder, e.g. name='model'")
    flavor = flavor_for(model)
    file_name, content, extra = flavor.save(model)
    if isinstance(signature, dict):
        signature = ModelSignature.from_dict(signature)
    if signature is None and input_example is not None:
        try:
            output = flavor.predict(model, input_example, extra) if flavor.name in ("torch", "keras") \
                else model.predict(input_example)
        except Exception as exc:  # noqa: BLE001 - an output schema is optional; the input one is enough
            warnings.warn(f"log_model: predicting on the input example failed ({exc}); the signature "
                          f"records inputs only", UserWarning, stacklevel=2)
            output = None
        signature = infer_signature(input_example, output)
    versions = _distribution_versions(flavor.packages)
    requirements = [f"{dist}=={version}" for dist, version in versions.items()] + list(pip_requirements or [])
    description = {
        "flavor": flavor.name, "model_file": file_name, "class": extra.pop("class", None) or
        f"{type(model).__module__}.{type(model).__qualname__}", **extra,
        "signature": signature.to_dict() if signature else None,
        "input_example": "input_example.json" if input_example is not None else None,
        "versions": versions, "python": platform.python_version(), "run_id": run.run_id,
        "created_time": now_ms(),
    }
    run.log_bytes(content, f"{prefix}/{file_name}")
    if input_example is not None:
        run.log_bytes(json.dumps(_example_json(input_example)).encode("utf-8"), f"{prefix}/input_example.json")
    run.log_bytes(("\n".join(requirements) + "\n").encode("utf-8"), f"{prefix}/requirements.txt")
    run.log_bytes(json.dumps(description, indent=2).encode("utf-8"), f"{prefix}/{METADATA_FILE}")
    return ModelInfo(run.run_id, prefix, f"runs:/{run.run_id}/{prefix}", flavor.name, signature, requirements)


class LoadedModel:
    """A model read back from the store. ``predict`` checks the input against the signature first;
    other attributes (``predict_proba``, ``classes_`` ...) come from the library's own model,
    which is ``native``."""

    def __init__(self, native: Any, description: dict, input_example: Any, uri: str) -> None:
        self.native = native
        self.metadata = description
        self.flavor = description["flavor"]
        self.signature = ModelSignature.from_dict(description["signature"]) if description.get("signature") else None
        self.input_example = input_example
        self.uri = uri

    def predict(self, model_input: Any) -> Any:
        """The model's prediction for ``model_input`` after checking it against the signature."""
        checked = enforce(self.signature, model_input)
        return BY_NAME[self.flavor].predict(self.native, checked, self.metadata)

    def __getattr__(self, name: str) -> Any:
        if name == "native":
            raise AttributeError(name)
        return getattr(self.native, name)

    def __repr__(self) -> str:
        return f"<LoadedModel {self.metadata.get('class')} flavor={self.flavor} from {self.uri}>"


def load_model(model_uri: str, *, trusted: list[str] | None = None, model: Any = None,
               store=None) -> LoadedModel:
    """Load the model at ``runs:/<run_id>/<name>`` or ``models:/<name>/<version|alias|stage>``.

    Warns (PackageVersionWarning) when its libraries' versions differ from the installed ones.
    ``trusted`` lists extra types a skops file may use; ``model`` is the torch module to load a
    ``state_dict`` into when its class cannot be rebuilt by name.
    """
    _, _, files = model_files(model_uri, store=store)
    description = json.loads(files[METADATA_FILE].read_bytes())
    mismatched = {dist: (saved, _distribution_versions([dist]).get(dist))
                  for dist, saved in description.get("versions", {}).items()
                  if _distribution_versions([dist]).get(dist) != saved}
    if mismatched:
        warnings.warn(
            f"{model_uri} was saved with " + ", ".join(
                f"{dist} {saved} (installed: {now or 'none'})" for dist, (saved, now) in mismatched.items())
            + "; it may load or predict differently. Its requirements.txt pins the versions it was saved with",
            PackageVersionWarning, stacklevel=2)
    flavor = BY_NAME[description["flavor"]]
    native = flavor.load(files[description["model_file"]].read_bytes(), description, trusted=trusted, model=model)
    example = None
    if "input_example.json" in files:
        example = _example_value(json.loads(files["input_example.json"].read_bytes()))
    return LoadedModel(native, description, example, model_uri)
