"""Autolog scoped to a cell or a ``with`` block: patch the libraries' training calls, then put
everything back.

``%%track --autolog`` or ``with jt.autolog():`` patches scikit-learn's ``fit`` (params, training
metrics, the model), XGBoost's ``train`` (per-round eval metrics), PyTorch Lightning's
``Trainer.fit`` and Keras's ``Model.fit`` (hyperparameters and per-epoch metrics), where those
libraries are installed, only while the cell or block runs; on exit every patched attribute is
restored exactly, so a ``fit`` after the cell logs nothing (MLflow's process-wide autolog keeps
patching later code). Autolog never fails the user's code: an error while logging becomes an
``AutologWarning`` and training goes on; the user's own exceptions pass through unchanged.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["AutologScope", "AutologWarning", "autolog"]


#: The scope whose patches are in place (at most one: nested scopes reuse them).
_installed: list = []


class AutologWarning(UserWarning):
    """Autolog could not record something; the training itself was not affected."""


class AutologScope:
    """The patches of one cell or ``with`` block. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(self, *, log_models: bool = True, sklearn: bool = True, xgboost: bool = True,
                 lightning: bool = True, keras: bool = True) -> None:
        self.log_models = log_models
        self.libraries = {"sklearn": sklearn, "xgboost": xgboost, "lightning": lightning, "keras": keras}
        self._patches: list[tuple[Any, str, Any]] = []
        self._runs_used: set[str] = set()
        self._own_runs: list = []
        #: Libraries inside a logged training call: their nested calls (a Pipeline's steps) log nothing.
        self.busy: dict[str, int] = {}
        self.active = False

    # -- patching --------------------------------------------------------------------------------
    def patch(self, owner: Any, attribute: str, replacement: Any) -> None:
        """Replace ``owner.attribute`` for the scope's lifetime (restored by ``stop``)."""
        self._patches.append((owner, attribute, owner.__dict__[attribute]))
        setattr(owner, attribute, replacement)

    def start(self) -> AutologScope:
        import importlib
        import sys

        self.active = True
        if _installed:  # already inside a scope (a `with jt.autolog()` in a --autolog cell): it logs
            return self
        _installed.append(self)
        for name, module_names in INTEGRATIONS.items():
            if not self.libraries[name]:
                continue
            # Keras and Lightning are patched only when the user already imported them: importing
            # them just to patch would cost seconds per cell (and Keras needs a backend chosen).
            if name in IMPORTED_ONLY and not any(module in sys.modules for module in module_names):
                continue
            try:
                importlib.import_module(f"{__name__}.{name}").install(self)
            except ImportError:
                continue  # the library is not installed: nothing to patch
            except Exception as exc:  # noqa: BLE001 - autolog must never break the user's cell
                self.warn(f"could not patch {name}", exc)
        return self

    def stop(self) -> None:
        """Restore every patched attribute and end the runs this scope started."""
        self.active = False
        if self in _installed:
            _installed.remove(self)
        while self._patches:
            owner, attribute, original = self._patches.pop()
            setattr(owner, attribute, original)
        for run in self._own_runs:
            if run.active:
                run.end()
        self._own_runs.clear()

    def __enter__(self) -> AutologScope:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.stop()
        return False

    # -- used by the integrations -------------------------------------------------------------------
    def warn(self, what: str, exc: BaseException) -> None:
        warnings.warn(f"autolog {what}: {type(exc).__name__}: {exc}; training was not affected",
                      AutologWarning, stacklevel=3)

    def run_for(self, label: str):
        """The run a training call logs into: the active run on first use, then a child run per call
        (so two fits in one cell keep their params apart); a new run when none is active."""
        from .. import tracking
        from ..run import active_run

        run = active_run()
        if run is None:
            run = tracking.start_run(run_name=None, tags={"autolog": label})
            self._own_runs.append(run)
        elif run.run_id in self._runs_used:
            run = tracking.start_run(nested=True, tags={"autolog": label}, snapshot=False)
            self._own_runs.append(run)
        self._runs_used.add(run.run_id)
        return run

    def finish(self, run, error: BaseException | None = None) -> None:
        """End a run this scope started for one training call (a cell's own run ends with the cell)."""
        if run in self._own_runs:
            self._own_runs.remove(run)
            if error is None:
                run.end()
            else:
                run.end("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED", error)

#: Integration module -> the top-level packages whose presence in ``sys.modules`` turns it on.
INTEGRATIONS = {"sklearn": ("sklearn",), "xgboost": ("xgboost",),
                "lightning": ("lightning", "pytorch_lightning"), "keras": ("keras",)}
IMPORTED_ONLY = {"lightning", "keras"}


def autolog(*, log_models: bool = True, sklearn: bool = True, xgboost: bool = True, lightning: bool = True,
            keras: bool = True) -> AutologScope:
    """Autolog inside a ``with`` block: ``with jt.autolog(): model.fit(X, y)``.

    Each scikit-learn ``fit`` logs the estimator's params, training metrics and (``log_models``)
    the fitted model; each ``xgboost.train`` logs its eval metrics per round; each Lightning
    ``Trainer.fit`` and Keras ``Model.fit`` logs hyperparameters and per-epoch metrics (Lightning
    also the trained module); import Lightning or Keras before the block starts, they are patched
    only if already imported. Outside the block nothing is patched.
    """
    return AutologScope(log_models=log_models, sklearn=sklearn, xgboost=xgboost, lightning=lightning,
                        keras=keras)
