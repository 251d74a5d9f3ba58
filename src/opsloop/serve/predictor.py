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
"""

from __future__ import annotations

import copy
import logging
import threading
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.serve.compiled import (
    SCORE_TOLERANCE,
    CompiledPipeline,
    Unsupported,
    compile_pipeline,
)
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
    (the estimator takes the matrix), `compiled` (serve/compiled.py) or `frame` (the
    model's own DataFrame path; `reason` says why nothing faster was used)."""

    def __init__(self, model: LoadedModel) -> None:
        import pandas as pd

        self.model = model
        self.columns = pd.Index(model.feature_names)
        self.array_estimator = _array_view(model)
        self.compiled: CompiledPipeline | None = None
        self.path, self.reason = "array", ""
        if self.array_estimator is None:
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
    """A shallow copy of the estimator that takes the float matrix, or None."""
    est = model.estimator
    if not all(f.kind == "numeric" for f in model.features):
        return None
    fitted = vars(est).get("feature_names_in_") if hasattr(est, "__dict__") else None
    if fitted is None or list(fitted) != model.feature_names:
        return None  # pipelines (names checked by their steps) and estimators fit on arrays
    view = copy.copy(est)
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


UNSEEN = "__opsloop_unseen_category__"


def probe_input(model: LoadedModel, *, unusual: bool = True) -> ModelInput:
    """Rows that exercise every feature: each known category, and with `unusual` an unseen
    category, missing values (nullable features) and extreme numbers."""
    values: dict[str, list[Any]] = {}
    for f in model.features:
        if f.kind == "numeric":
            vals: list[Any] = [0.0, 1.0, -1.0, 0.5, 3.0, -2.5, 12.0, 250.0]
            if unusual:
                vals += [1e9, -1e9, 1e-12] + ([None] if f.nullable else [])
        elif f.dtype == "bool":
            vals = [True, False] + ([None] if unusual and f.nullable else [])
        else:
            vals = list(f.categories) or ["a"]
            if unusual:
                vals += [UNSEEN] + ([None] if f.nullable else [])
        values[f.name] = vals
    n = max(len(v) for v in values.values())
    columns: dict[str, Any] = {}
    for k, f in enumerate(model.features):
        vals = values[f.name]
        cycled = [vals[(i + k) % len(vals)] for i in range(n)]
        if f.kind == "numeric":
            columns[f.name] = np.asarray([np.nan if v is None else v for v in cycled], dtype=float)
        else:
            columns[f.name] = np.asarray(cycled, dtype=object)
    return ModelInput(model.features, n, columns=columns)


def verified_compilation(model: LoadedModel) -> tuple[CompiledPipeline | None, str]:
    """The version's compiled pipeline if it answers like the model on probe rows, else
    None and why: identical labels, scores within SCORE_TOLERANCE."""
    try:
        compiled = compile_pipeline(model.estimator, model.feature_names)
    except Unsupported as exc:
        return None, str(exc)
    except Exception as exc:  # an estimator shape the compiler did not expect
        return None, f"compiling failed: {type(exc).__name__}: {exc}"
    for unusual in (True, False):  # without the unusual rows if the model refuses them
        probe = probe_input(model, unusual=unusual)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            try:
                want = model.predict_frame(probe.frame())
            except Exception:
                continue
            try:
                x = compiled.transform(_columns_of(probe), probe.n)
                got = model.predict_features(compiled.estimator, x)
            except Exception as exc:
                return None, f"the compiled path failed on probe rows: {type(exc).__name__}: {exc}"
        problem = _difference(want, got)
        if problem:
            return None, f"the compiled path differs from the model on probe rows: {problem}"
        return compiled, f"verified on {probe.n} probe rows ({compiled.description})"
    return None, "the model refuses every probe row"


def _difference(
    want: tuple[np.ndarray, np.ndarray | None], got: tuple[np.ndarray, np.ndarray | None]
) -> str:
    if not np.array_equal(np.asarray(want[0]), np.asarray(got[0])):
        kind = np.asarray(want[0]).dtype.kind
        if kind != "f" or not np.allclose(want[0], got[0], rtol=0, atol=SCORE_TOLERANCE):
            return "predictions differ"
    if (want[1] is None) != (got[1] is None):
        return "one path gives scores, the other not"
    if want[1] is not None and got[1] is not None:
        worst = float(np.max(np.abs(want[1] - got[1]), initial=0.0))
        if not worst <= SCORE_TOLERANCE:
            return f"scores differ by up to {worst:.3g} (tolerance {SCORE_TOLERANCE:g})"
    return ""
