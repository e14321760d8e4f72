"""One flavor per library: how a model is recognised, serialized, loaded and asked to predict.

Each flavor stores the safest format its library offers: skops for scikit-learn (loading runs no
arbitrary code), ``state_dict`` for torch (``weights_only`` loading), native UBJSON for XGBoost,
LightGBM's text format, Keras' ``.keras`` file (loaded in safe mode). Python objects with a ``predict``
method (``PythonModel``) are pickled with cloudpickle, which is as trustworthy as the store they come from.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
import tempfile
from typing import Any

from ..errors import MissingExtraError, UnsupportedModelError, UntrustedModelError

#: Top-level modules whose types a scikit-learn model may use and still load without asking.
SAFE_SKOPS_MODULES = {"sklearn", "numpy", "scipy", "builtins", "collections", "lightgbm", "xgboost"}


def _require(module: str, extra: str, call: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{call} needs {module!r}, which is not installed: pip install 'jupyter_tracker[{extra}]'") from None


def _qualname(value: Any) -> str:
    kind = value if isinstance(value, type) else type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _import_class(path: str):
    module_name, _, name = path.rpartition(".")
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    target = module
    for part in name.split("."):
        target = getattr(target, part)
    return target


def _is_instance_of(model: Any, module_prefix: str) -> bool:
    return any(kind.__module__.split(".")[0] == module_prefix for kind in type(model).__mro__)


class Flavor:
    """The protocol: ``matches``, ``save`` → (file name, bytes, extra metadata), ``load``, ``predict``."""

    name = ""
    extra = ""
    packages: tuple[str, ...] = ()

    def matches(self, model: Any) -> bool:
        raise NotImplementedError

    def save(self, model: Any) -> tuple[str, bytes, dict]:
        raise NotImplementedError

    def load(self, content: bytes, meta: dict, **options: Any) -> Any:
        raise NotImplementedError

    def predict(self, native: Any, model_input: Any, meta: dict) -> Any:
        return native.predict(model_input)


class SklearnFlavor(Flavor):
    name, extra, packages = "sklearn", "sklearn", ("scikit-learn", "skops", "numpy", "scipy")

    def matches(self, model: Any) -> bool:
        return _is_instance_of(model, "sklearn")

    def save(self, model: Any) -> tuple[str, bytes, dict]:
        skops_io = _require("skops.io", "sklearn", "log_model(scikit-learn model)")
        return "model.skops", skops_io.dumps(model), {}

    def load(self, content: bytes, meta: dict, trusted: list[str] | None = None, **_: Any) -> Any:
        skops_io = _require("skops.io", "sklearn", "load_model(scikit-learn model)")
        untrusted = skops_io.get_untrusted_types(data=content)
        allowed = set(trusted or ())
        refused = [t for t in untrusted if t.split(".")[0] not in SAFE_SKOPS_MODULES and t not in allowed]
        if refused:
            raise UntrustedModelError(
                f"the stored model uses types outside scikit-learn/NumPy/SciPy: {', '.join(refused)}. "
                f"Loading them can run their code; if you trust this model pass "
                f"load_model(uri, trusted={refused!r})")
        return skops_io.loads(content, trusted=list(untrusted))


class XGBoostFlavor(Flavor):
    name, extra, packages = "xgboost", "xgboost", ("xgboost", "numpy")

    def matches(self, model: Any) -> bool:
        return _is_instance_of(model, "xgboost")

    def save(self, model: Any) -> tuple[str, bytes, dict]:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.ubj")
            model.save_model(path)
            with open(path, "rb") as reader:
                return "model.ubj", reader.read(), {"class": _qualname(model)}

    def load(self, content: bytes, meta: dict, **_: Any) -> Any:
        _require("xgboost", "xgboost", "load_model(xgboost model)")
        model = _import_class(meta["class"])()
        model.load_model(bytearray(content))
        return model

    def predict(self, native: Any, model_input: Any, meta: dict) -> Any:
        if meta["class"] == "xgboost.core.Booster":
            import xgboost

            return native.predict(xgboost.DMatrix(model_input))
        return native.predict(model_input)


class LightGBMFlavor(Flavor):
    name, extra, packages = "lightgbm", "lightgbm", ("lightgbm", "numpy")

    def matches(self, model: Any) -> bool:
        return _is_instance_of(model, "lightgbm")

    def save(self, model: Any) -> tuple[str, bytes, dict]:
        booster = getattr(model, "booster_", model)
        classes = getattr(model, "classes_", None)
        return "model.lgb.txt", booster.model_to_string().encode("utf-8"), {
            "class": _qualname(model), "classes": classes.tolist() if classes is not None else None}

    def load(self, content: bytes, meta: dict, **_: Any) -> Any:
        lightgbm = _require("lightgbm", "lightgbm", "load_model(lightgbm model)")
        return lightgbm.Booster(model_str=content.decode("utf-8"))

    def predict(self, native: Any, model_input: Any, meta: dict) -> Any:
        import numpy as np

        scores = native.predict(model_input)
        classes = meta.get("classes")
        if not classes:
            return scores
        # A classifier's booster returns probabilities; give back labels like LGBMClassifier.predict.
        index = (scores > 0.5).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return np.asarray(classes)[index]


class TorchFlavor(Flavor):
    name, extra, packages = "torch", "torch", ("torch", "numpy")

    def matches(self, model: Any) -> bool:
        return _is_instance_of(model, "torch") and hasattr(model, "state_dict")

    def save(self, model: Any) -> tuple[str, bytes, dict]:
        torch = _require("torch", "torch", "log_model(torch module)")
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        return "state_dict.pt", buffer.getvalue(), {"class": _qualname(model)}

    def load(self, content: bytes, meta: dict, model: Any = None, **_: Any) -> Any:
        torch = _require("torch", "torch", "load_model(torch module)")
        if model is None:
            try:
                model = _import_class(meta["class"])()
            except (ImportError, AttributeError, TypeError) as exc:
                raise UnsupportedModelError(
                    f"cannot rebuild {meta['class']} to load its state_dict into ({exc}); define or import "
                    f"the class, then pass an instance: load_model(uri, model=MyNet(...))") from None
        model.load_state_dict(torch.load(io.BytesIO(content), weights_only=True))
        model.eval()
        return model

    def predict(self, native: Any, model_input: Any, meta: dict) -> Any:
        import numpy as np
        import torch

        values = model_input.to_numpy() if hasattr(model_input, "to_numpy") else np.asarray(model_input)
        with torch.no_grad():
            output = native(torch.as_tensor(values))
        return output.numpy() if hasattr(output, "numpy") else output


class KerasFlavor(Flavor):
    """Keras 3 models in Keras' own ``.keras`` format (architecture, weights, compile state in one
    zip), loaded with ``safe_mode`` so a stored lambda layer cannot run code. The backend it was
    trained with (torch, jax, tensorflow) is recorded with its version."""

    name, extra = "keras", "keras"
    _BACKEND_DISTRIBUTIONS = {"torch": "torch", "jax": "jax", "tensorflow": "tensorflow", "numpy": "numpy"}

    @property
    def packages(self) -> tuple[str, ...]:  # type: ignore[override]
        import keras

        backend = self._BACKEND_DISTRIBUTIONS.get(keras.backend.backend())
        return ("keras", "numpy", *((backend,) if backend and backend != "numpy" else ()))

    def matches(self, model: Any) -> bool:
        return _is_instance_of(model, "keras") and hasattr(model, "save") and hasattr(model, "predict")

    def save(self, model: Any) -> tuple[str, bytes, dict]:
        keras = _require("keras", "keras", "log_model(keras model)")
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            with open(path, "rb") as reader:
                return "model.keras", reader.read(), {"class": _qualname(model),
                                                      "keras_backend": keras.backend.backend()}

    def load(self, content: bytes, meta: dict, **_: Any) -> Any:
        keras = _require("keras", "keras", "load_model(keras model)")
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            with open(path, "wb") as writer:
                writer.write(content)
            return keras.saving.load_model(path, safe_mode=True)

    def predict(self, native: Any, model_input: Any, meta: dict) -> Any:
        import numpy as np

        values = model_input.to_numpy() if hasattr(model_input, "to_numpy") else np.asarray(model_input)
        return np.asarray(native.predict(values, verbose=0))


class PythonModel:
    """Base for any Python model: subclass it and implement ``predict(self, model_input)``.

    Stored with cloudpickle, so the class may live in the notebook itself.
    """

    def predict(self, model_input: Any) -> Any:
        raise NotImplementedError("a PythonModel subclass implements predict(self, model_input)")


class PyfuncFlavor(Flavor):
    name, extra, packages = "pyfunc", "", ("cloudpickle",)

    def matches(self, model: Any) -> bool:
        return isinstance(model, PythonModel) or callable(getattr(model, "predict", None))

    def save(self, model: Any) -> tuple[str, bytes, dict]:
        import cloudpickle

        return "model.pkl", cloudpickle.dumps(model), {"class": _qualname(model)}

    def load(self, content: bytes, meta: dict, **_: Any) -> Any:
        import pickle

        return pickle.loads(content)  # noqa: S301 - a model this store itself wrote


# Library flavors come before scikit-learn: XGBClassifier and LGBMClassifier are sklearn estimators too.
FLAVORS: list[Flavor] = [XGBoostFlavor(), LightGBMFlavor(), KerasFlavor(), TorchFlavor(), SklearnFlavor(),
                         PyfuncFlavor()]
BY_NAME = {flavor.name: flavor for flavor in FLAVORS}


def flavor_for(model: Any) -> Flavor:
    """The first flavor that recognises ``model``."""
    for flavor in FLAVORS:
        if flavor.matches(model):
            return flavor
    raise UnsupportedModelError(
        f"log_model does not know how to store a {type(model).__name__}: it takes scikit-learn, XGBoost, "
        f"LightGBM, Keras and PyTorch models, or any object with a predict(model_input) method "
        f"(subclass jupyter_tracker.PythonModel)")
