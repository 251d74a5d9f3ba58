"""Whether a version's compiled pipeline may serve it: compiled vs the model's own answers.

Two checks, one rule (identical labels, scores within `SCORE_TOLERANCE`):

- at registration (`train/register.py`), on the version's holdout — the rows it was judged
  on — plus the probe rows; the verdict is recorded on the version (tags
  `opsloop.inference_path` = `compiled` | `plain`, `opsloop.inference_reason`) and in its
  `trained` / `registered` events;
- at load (`serve/predictor.py`), on probe rows built from the version's features alone
  (every known category, an unseen one, missing values, ±1e9), since a server has no
  holdout.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from opsloop.inference.compiled import (
    SCORE_TOLERANCE,
    CompiledPipeline,
    Unsupported,
    compile_pipeline,
)
from opsloop.registry.base import PATH_TAG, REASON_TAG

__all__ = [
    "PATH_TAG",
    "REASON_TAG",
    "UNSEEN",
    "InferenceCheck",
    "check_on_holdout",
    "probe_columns",
    "verified_compilation",
]

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.registry.base import LoadedModel

UNSEEN = "__opsloop_unseen_category__"

Columns = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class InferenceCheck:
    """The verdict on a version's compiled path: `compiled` when it answered like the model
    on `rows` rows (worst score difference `max_score_diff`), else `plain` and why."""

    path: Literal["compiled", "plain"]
    reason: str
    rows: int = 0
    max_score_diff: float | None = None

    def tags(self) -> dict[str, str]:
        return {PATH_TAG: self.path, REASON_TAG: self.reason[:500]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "reason": self.reason,
            "rows": self.rows,
            "max_score_diff": self.max_score_diff,
            "tolerance": SCORE_TOLERANCE,
        }


def probe_columns(model: LoadedModel, *, unusual: bool = True) -> tuple[dict[str, Any], int]:
    """Columns that exercise every feature: each known category, and with `unusual` an
    unseen category, missing values (nullable features) and extreme numbers."""
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
    n = max((len(v) for v in values.values()), default=0)
    columns: dict[str, Any] = {}
    for k, f in enumerate(model.features):
        vals = values[f.name]
        cycled = [vals[(i + k) % len(vals)] for i in range(n)]
        if f.kind == "numeric":
            columns[f.name] = np.asarray([np.nan if v is None else v for v in cycled], dtype=float)
        else:
            columns[f.name] = np.asarray(cycled, dtype=object)
    return columns, n


def frame_of(model: LoadedModel, columns: Columns, n: int) -> pd.DataFrame:
    """The DataFrame the model's own path takes for `columns` (object arrays stay object
    columns: pandas would otherwise infer a string dtype the model was not fitted on)."""
    import pandas as pd

    return pd.DataFrame(
        {
            name: pd.Series(v, dtype=object, copy=False)
            if isinstance(v, np.ndarray) and v.dtype == object
            else v
            for name, v in ((name, columns[name]) for name in model.feature_names)
        },
        index=pd.RangeIndex(n),
    )


def columns_of_frame(model: LoadedModel, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns a server would hand the compiled path for `frame`'s rows: float64 for
    numeric features (missing as NaN), object arrays for the others."""
    out: dict[str, np.ndarray] = {}
    for f in model.features:
        col = frame[f.name]
        if f.kind == "numeric":
            out[f.name] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            out[f.name] = col.to_numpy(dtype=object)
    return out


def verified_compilation(model: LoadedModel) -> tuple[CompiledPipeline | None, str]:
    """The version's compiled pipeline if it answers like the model on probe rows, else
    None and why (the server's check at load)."""
    compiled, reason = _compile(model)
    if compiled is None:
        return None, reason
    for unusual in (True, False):  # without the unusual rows if the model refuses them
        columns, n = probe_columns(model, unusual=unusual)
        outcome = _compare(model, compiled, columns, n)
        if outcome is None:
            continue
        problem, _ = outcome
        if problem:
            return None, f"{problem} on probe rows"
        return compiled, f"verified on {n} probe rows ({compiled.description})"
    return None, "the model refuses every probe row"


def check_on_holdout(model: LoadedModel, holdout: pd.DataFrame) -> InferenceCheck:
    """Compile the fitted model and compare it with its own predict/predict_proba on the
    holdout (the frame itself, as the evaluation saw it) and on the probe rows (the
    registration check)."""
    compiled, reason = _compile(model)
    if compiled is None:
        return InferenceCheck("plain", reason)
    n = len(holdout)
    if n == 0:
        return InferenceCheck(
            "plain", "the holdout is empty: nothing to verify the compiled path on"
        )
    outcome = _compare(model, compiled, columns_of_frame(model, holdout), n, want=holdout)
    if outcome is None:
        return InferenceCheck("plain", "the model's own predict fails on the holdout")
    problem, worst = outcome
    if problem:
        return InferenceCheck("plain", f"{problem} on the holdout", n, worst)
    checked = n
    for unusual in (True, False):  # without the unusual rows if the model refuses them
        columns, k = probe_columns(model, unusual=unusual)
        probed = _compare(model, compiled, columns, k)
        if probed is None:
            continue
        if probed[0]:
            return InferenceCheck("plain", f"{probed[0]} on probe rows", checked + k, probed[1])
        checked += k
        worst = _larger(worst, probed[1])
        break
    return InferenceCheck(
        "compiled",
        f"verified on {n} holdout rows and {checked - n} probe rows ({compiled.description})",
        checked,
        worst,
    )


def _larger(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _compile(model: LoadedModel) -> tuple[CompiledPipeline | None, str]:
    try:
        return compile_pipeline(model.estimator, model.feature_names), ""
    except Unsupported as exc:
        return None, str(exc)
    except Exception as exc:  # an estimator shape the compiler did not expect
        return None, f"compiling failed: {type(exc).__name__}: {exc}"


def _compare(
    model: LoadedModel,
    compiled: CompiledPipeline,
    columns: Columns,
    n: int,
    *,
    want: pd.DataFrame | None = None,
) -> tuple[str, float | None] | None:
    """(what differs or "", worst score difference) between the compiled path on `columns`
    and the model's own path on `want` (default: the same columns as a DataFrame); None
    when the model's own path refuses the rows."""
    with warnings.catch_warnings(record=True):  # record: other threads may be predicting
        warnings.simplefilter("always")
        try:
            own = model.predict_frame(frame_of(model, columns, n) if want is None else want)
        except Exception:
            return None
        try:
            x = compiled.transform(columns, n)
            got = model.predict_features(compiled.estimator, x)
        except Exception as exc:
            return f"the compiled path failed: {type(exc).__name__}: {exc}", None
    return _difference(own, got)


def _difference(
    want: tuple[np.ndarray, np.ndarray | None], got: tuple[np.ndarray, np.ndarray | None]
) -> tuple[str, float | None]:
    worst: float | None = None
    if want[1] is not None and got[1] is not None:
        worst = float(np.max(np.abs(want[1] - got[1]), initial=0.0))
    if not np.array_equal(np.asarray(want[0]), np.asarray(got[0])):
        kind = np.asarray(want[0]).dtype.kind
        if kind != "f" or not np.allclose(want[0], got[0], rtol=0, atol=SCORE_TOLERANCE):
            return "the compiled path's predictions differ from the model's", worst
        worst = float(np.max(np.abs(np.asarray(want[0]) - np.asarray(got[0])), initial=0.0))
    if (want[1] is None) != (got[1] is None):
        return "one path gives scores, the other not", None
    if worst is not None and not worst <= SCORE_TOLERANCE:
        return (
            f"the compiled path's scores differ by up to {worst:.3g} "
            f"(tolerance {SCORE_TOLERANCE:g})",
            worst,
        )
    return "", worst
