"""scikit-learn autolog: wrap every estimator class's own ``fit`` while a scope is active.

Only the outermost ``fit`` logs (a Pipeline or GridSearchCV fits its parts without logging them
separately). The estimator list is built once per process (``all_estimators`` imports every
scikit-learn module, ~2 s), plus any other loaded subclass of ``BaseEstimator``.
"""

from __future__ import annotations

import functools
from typing import Any

_estimator_classes: list[type] | None = None


def _classes() -> list[type]:
    global _estimator_classes
    from sklearn.base import BaseEstimator

    if _estimator_classes is None:
        from sklearn.utils import all_estimators

        _estimator_classes = [cls for _, cls in all_estimators()]
    found, pending = set(_estimator_classes), list(BaseEstimator.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls not in found:
            found.add(cls)
            pending.extend(cls.__subclasses__())
    return [cls for cls in found if "fit" in cls.__dict__ and callable(cls.__dict__["fit"])]


def install(scope) -> None:
    import sklearn  # noqa: F401 - ImportError means there is nothing to patch

    for cls in _classes():
        scope.patch(cls, "fit", _wrap(scope, cls.__dict__["fit"]))


def _wrap(scope, original):
    @functools.wraps(original)
    def fit(self, *args: Any, **kwargs: Any):
        # Process-wide, not per thread: ensembles fit their parts in joblib worker threads.
        if scope.busy.get("sklearn") or not scope.active:
            return original(self, *args, **kwargs)
        scope.busy["sklearn"] = 1
        try:
            run = None
            try:  # chosen before fit, so what fit logs itself (XGBoost rounds) lands in the same run
                run = scope.run_for(type(self).__name__)
            except Exception as exc:  # noqa: BLE001 - logging must never break training
                scope.warn(f"could not start a run for {type(self).__name__}.fit", exc)
            try:
                result = original(self, *args, **kwargs)
            except BaseException as error:
                scope.finish(run, error)
                raise
            try:
                if run is not None:
                    _log_fit(scope, run, self, args, kwargs)
            except Exception as exc:  # noqa: BLE001 - logging must never break training
                scope.warn(f"could not log {type(self).__name__}.fit", exc)
            finally:
                scope.finish(run)
        finally:
            scope.busy["sklearn"] = 0
        return result

    fit.__jupyter_tracker_autolog__ = True
    return fit


def _log_fit(scope, run, estimator, args, kwargs) -> None:
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    params = {k: v for k, v in estimator.get_params(deep=False).items() if not hasattr(v, "get_params")}
    run.log_params({key: _param_value(value) for key, value in params.items()})
    run.set_tags({"estimator_class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
                  "estimator_name": type(estimator).__name__})
    if hasattr(estimator, "best_params_"):
        run.log_params({f"best_{k}": _param_value(v) for k, v in estimator.best_params_.items()})
        run.log_metric("best_cv_score", float(estimator.best_score_))
    if X is not None and y is not None:
        run.log_metrics(_training_metrics(estimator, X, y))
    if scope.log_models:
        example = X[:5] if X is not None and hasattr(X, "__getitem__") else None
        try:
            run.log_model(estimator, "model", input_example=example)
        except Exception as exc:  # noqa: BLE001
            scope.warn(f"could not store the {type(estimator).__name__} model", exc)


def _param_value(value: Any) -> Any:
    if isinstance(value, (int, float, str, bool)):
        return value
    return repr(value)[:500]


def _training_metrics(estimator, X, y) -> dict[str, float]:
    from sklearn import metrics
    from sklearn.base import is_classifier, is_regressor

    if not hasattr(estimator, "predict"):
        return {}
    predicted = estimator.predict(X)
    if is_classifier(estimator):
        return {"training_accuracy_score": metrics.accuracy_score(y, predicted),
                "training_f1_score": metrics.f1_score(y, predicted, average="weighted"),
                "training_precision_score": metrics.precision_score(y, predicted, average="weighted",
                                                                    zero_division=0),
                "training_recall_score": metrics.recall_score(y, predicted, average="weighted")}
    if is_regressor(estimator):
        return {"training_r2_score": metrics.r2_score(y, predicted),
                "training_mean_squared_error": metrics.mean_squared_error(y, predicted),
                "training_mean_absolute_error": metrics.mean_absolute_error(y, predicted)}
    return {}
