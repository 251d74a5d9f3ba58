"""Predicting a `ModelInput` as cheaply as the version's estimator allows.

Measured on a 20-feature HistGradientBoostingClassifier, one row (docs/benchmarks.md): a
DataFrame built from a dict of columns costs ~0.3 ms; scikit-learn's input validation of a
DataFrame (dtypes, feature names) ~1 ms more than of an array; the trees ~1 ms. So:

- All-numeric inputs arrive as one float matrix. For a plain estimator fitted on a frame
  with exactly the model's features in order, a shallow copy without `feature_names_in_`
  takes the matrix itself: opsloop has already matched every value to its feature by name,
  which is what that attribute makes scikit-learn check (and warn about for arrays). The
  copy is used only if, on probe rows, it gives bit-identical answers to the DataFrame path
  without any warning or error (checked once per version, when it is loaded). Otherwise the
  matrix becomes a single-block DataFrame with the column index built once.
- Native thread pools are capped (`serve.model_threads`, default 1) in every thread that
  predicts. HistGradientBoosting runs an OpenMP parallel region per tree: for one row that
  is pure synchronisation, and on a busy machine a team member that is not scheduled stalls
  the barrier (measured ~25 ms instead of ~2.5 ms per call on 2 shared cores). A server gets
  its parallelism from concurrent requests and worker processes instead.
- The registration's verdict on the compiled path (`LoadedModel.registered_inference`,
  from the ops store's `registered` event) is honoured: a version registered `plain` is
  served by its own DataFrame path without compiling it again; one registered `compiled` is
  re-verified on probe rows at load and served plain if that fails. The compiled path is
  never taken against a `plain` verdict. (The `array` view is not a compilation: it is the
  estimator itself, bit-identical on probe rows, and only for estimators fitted on exactly
  the model's numeric features.)
"""

from __future__ import annotations

import copy
import logging
import threading
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.inference.compiled import CompiledPipeline
from opsloop.inference.hgb import binned_view
from opsloop.inference.verify import UNSEEN, probe_columns, verified_compilation
from opsloop.serve.rows import ModelInput

if TYPE_CHECKING:
    from opsloop.registry.base import LoadedModel

log = logging.getLogger("opsloop.serve")
_local = threading.local()
_ATTR = "_opsloop_predictor"


def limit_native_threads(threads: int) -> None:
    """Cap OpenMP and BLAS pools for predict calls made by the calling thread (OpenMP's
    limit is per thread). Cheap after the first call in a thread; 0 leaves them alone."""
    if threads <= 0 or getattr(_local, "threads", None) == threads:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    _local.threads = threads


class Predictor:
    """How one loaded version predicts; build it with `predictor_for`. `path` is `array`
    (the estimator takes the matrix), `compiled` (inference/compiled.py) or `frame` (the
    model's own DataFrame path; `reason` says why nothing faster was used). `registered`
    is the registration's verdict (`compiled`, `plain`, or `unchecked`)."""

    def __init__(self, model: LoadedModel) -> None:
        import pandas as pd

        self.model = model
        self.columns = pd.Index(model.feature_names)
        self.array_estimator = _array_view(model)
        self.compiled: CompiledPipeline | None = None
        self.path, self.reason = "array", ""
        verdict = model.registered_inference
        self.registered = "unchecked" if verdict is None else verdict.path
        if self.array_estimator is not None:
            return
        if verdict is not None and verdict.path == "plain":  # not compiled again
            self.reason = f"plain at registration: {verdict.reason or 'no reason recorded'}"
        else:
            self.compiled, self.reason = verified_compilation(model)
        self.path = "frame" if self.compiled is None else "compiled"
        if self.compiled is None:
            log.warning(
                "version %s of %s is served by its DataFrame path: %s",
                model.version,
                model.name,
                self.reason,
            )

    @property
    def takes_arrays(self) -> bool:
        return self.array_estimator is not None

    def predict(self, rows: ModelInput) -> tuple[np.ndarray, np.ndarray | None]:
        if self.compiled is not None:
            x = self.compiled.transform(_columns_of(rows), rows.n)
            return self.model.predict_features(self.compiled.estimator, x)
        if rows.matrix is None:
            return self.model.predict_frame(rows.frame())
        if self.array_estimator is not None:
            return self.model.predict_features(self.array_estimator, rows.matrix)
        import pandas as pd

        frame = pd.DataFrame(rows.matrix, columns=self.columns, copy=False)
        return self.model.predict_features(self.model.estimator, frame)


def predictor_for(model: LoadedModel) -> Predictor:
    """The version's predictor, made on first use (`prepare` makes it at load time)."""
    found = getattr(model, _ATTR, None)
    if found is None:
        found = Predictor(model)
        setattr(model, _ATTR, found)
    return found


def prepare(model: LoadedModel) -> LoadedModel:
    """Probe the version now (in the loading thread, off the request path)."""
    predictor_for(model)
    return model


def predict_rows(
    model: LoadedModel, rows: ModelInput, threads: int
) -> tuple[np.ndarray, np.ndarray | None]:
    limit_native_threads(threads)
    with np.errstate(all="ignore"):  # overflow shows up as inf/NaN (a 422), not a warning
        return predictor_for(model).predict(rows)


def _probe_rows(n_features: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.vstack(
        [
            np.zeros(n_features),
            np.ones(n_features),
            rng.normal(0.0, 1.0, (6, n_features)),
            rng.normal(0.0, 100.0, (2, n_features)),
        ]
    )


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    )


def _array_view(model: LoadedModel) -> Any | None:
    """A shallow copy of the estimator that takes the float matrix (a HistGradientBoosting
    model walked on its bins: `inference/hgb.py`), or None."""
    est = model.estimator
    if not all(f.kind == "numeric" for f in model.features):
        return None
    fitted = vars(est).get("feature_names_in_") if hasattr(est, "__dict__") else None
    if fitted is None or list(fitted) != model.feature_names:
        return None  # pipelines (names checked by their steps) and estimators fit on arrays
    view = binned_view(est) or copy.copy(est)  # a HistGradientBoosting model on its bins
    del view.feature_names_in_
    import pandas as pd

    probe = _probe_rows(len(model.features))
    # record=True swallows rather than raises: other threads may be predicting meanwhile
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            want = model.predict_features(est, pd.DataFrame(probe, columns=list(fitted)))
            got = model.predict_features(view, probe)
        except Exception:
            return None
    if caught or not (_same(want[0], got[0]) and _same(want[1], got[1])):
        return None
    return view


def _columns_of(rows: ModelInput) -> Mapping[str, Any]:
    if rows.columns is not None:
        return rows.columns
    assert rows.matrix is not None
    return {name: rows.matrix[:, j] for j, name in enumerate(rows.names)}


def probe_input(model: LoadedModel, *, unusual: bool = True) -> ModelInput:
    """Rows that exercise every feature (inference/verify.py `probe_columns`)."""
    columns, n = probe_columns(model, unusual=unusual)
    return ModelInput(model.features, n, columns=columns)


__all__ = ["UNSEEN", "Predictor", "predict_rows", "predictor_for", "prepare", "probe_input"]
