"""A compiled inference path for common scikit-learn pipelines, chosen and verified per version.

On the churn example's pipeline (ColumnTransformer + OneHotEncoder over 5 string columns +
HistGradientBoostingClassifier) a one-row `predict_proba` on a DataFrame costs ~4.8 ms, most
of it pandas and the ColumnTransformer's per-call validation, not arithmetic. The fitted
preprocessing is compiled once, at load time, into array operations — a dict lookup per
categorical value (per distinct value for a batch's `Coded` columns), a subtraction and
division per scaled value, a `where` per imputed one —
writing straight into one float64 matrix that feeds the final estimator's own array path.

Why not ONNX or Treelite: `skl2onnx` 1.20 cannot convert scikit-learn 1.9's
HistGradientBoosting (FIELD-NOTES), and both would replace the estimator's own arithmetic
with another runtime's; here the trees, linear models, etc. run exactly as fitted (a
HistGradientBoosting final step walks its trees on its own bins: `hgb.py`, the same leaves).

Supported: a `Pipeline` whose steps before the final estimator are `ColumnTransformer`,
`OneHotEncoder` (no `drop`, no infrequent categories), `OrdinalEncoder`, `StandardScaler`,
`SimpleImputer`, `FunctionTransformer` without a function (passthrough), `"passthrough"`,
and inside a ColumnTransformer also `"drop"` and nested pipelines of those. Anything else
raises `Unsupported` with the reason, and the version is served by the plain path.

A compiled plan is used only after it has answered like the model on probe rows (every
known category, an unseen one, missing values, extreme numbers): identical labels, scores
within `SCORE_TOLERANCE` (checked in serve/predictor.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from opsloop.inference.hgb import binned, binned_view

SCORE_TOLERANCE = 1e-9  # absolute, on scores/regression outputs


@dataclass(frozen=True)
class Coded:
    """A categorical column as its distinct values and, per row, the index of its value
    (Arrow's dictionary encoding): the encoders look each distinct value up once and take
    the rows' codes from that, instead of hashing every row (batch scoring, 65k rows)."""

    values: np.ndarray  # object, the distinct values (None for a missing one)
    codes: np.ndarray  # (n,) integer indices into `values`

    def __len__(self) -> int:
        return len(self.codes)

    def decode(self) -> np.ndarray:
        out: np.ndarray = self.values[self.codes]
        return out


Column = np.ndarray  # (n,) float64 (numeric) or object (categorical)
Input = np.ndarray | Coded  # what a stage that takes codes (`Stage.coded`) may receive
Block = Callable[[list[Column], int], np.ndarray]  # input columns → (n, width) float64


class Unsupported(Exception):
    """The pipeline has a step this compiler does not handle; the message says which."""


@dataclass(frozen=True)
class Stage:
    """Columns in (by name or index of the stage's input) → one block of output columns."""

    inputs: tuple[int, ...]
    width: int
    apply: Block
    coded: bool = False  # `apply` takes `Coded` columns as they are (else decoded first)

    def run(self, cols: Sequence[Input], n: int) -> np.ndarray:
        if self.coded:
            return self.apply(cols, n)  # type: ignore[arg-type]
        return self.apply([_dense(c) for c in cols], n)


@dataclass(frozen=True)
class CompiledPipeline:
    """The pipeline as array operations plus the final estimator (an array-taking view)."""

    feature_names: tuple[str, ...]
    stages: tuple[Stage, ...]
    width: int
    estimator: Any
    description: str

    def transform(self, columns: Mapping[str, Any], n: int) -> np.ndarray:
        """The final estimator's input for `n` rows of `columns` (by feature name): arrays,
        sequences, or `Coded` categorical columns."""
        cols = [_as_column(columns[name]) for name in self.feature_names]
        out = np.empty((n, self.width), dtype=np.float64)
        at = 0
        for stage in self.stages:
            out[:, at : at + stage.width] = stage.run([cols[i] for i in stage.inputs], n)
            at += stage.width
        return out


def _as_column(values: Any) -> Input:
    if isinstance(values, np.ndarray | Coded):
        return values
    return np.asarray(list(values), dtype=object)


def _dense(col: Input) -> np.ndarray:
    return col.decode() if isinstance(col, Coded) else col


def compile_pipeline(estimator: Any, feature_names: Sequence[str]) -> CompiledPipeline:
    """Compile a fitted pipeline whose input is the model's features, by name."""
    from sklearn.pipeline import Pipeline

    if not isinstance(estimator, Pipeline):
        raise Unsupported(f"the model is a {type(estimator).__name__}, not a Pipeline")
    steps = [s for _, s in estimator.steps if s is not None and s != "passthrough"]
    if len(steps) < 2:
        raise Unsupported("the pipeline has no preprocessing step")
    *pre, final = steps
    names = list(feature_names)
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None and list(fitted) != names:
        raise Unsupported("the pipeline was fitted on other columns than the model's features")
    stages, width = _chain(pre, len(names), names)
    view = _array_estimator(final)
    described = " → ".join(type(s).__name__ for s in steps)
    if binned(view):
        described += " (scored on its bins)"
    return CompiledPipeline(tuple(names), stages, width, view, described)


def _array_estimator(final: Any) -> Any:
    """The final step as the compiled path calls it: on a float64 matrix, without the
    feature-name check of a step fitted on a frame, and a HistGradientBoosting model on its
    own bins (`hgb.py`: the same answers, faster)."""
    if not hasattr(final, "predict"):
        raise Unsupported(f"the last step {type(final).__name__} does not predict")
    view = binned_view(final) or final
    if "feature_names_in_" in vars(view):  # fitted on a frame (set_output): names checked
        view = copy.copy(view) if view is final else view
        del view.feature_names_in_
    return view


def _chain(
    steps: Sequence[Any], n_in: int, names: Sequence[str] | None
) -> tuple[tuple[Stage, ...], int]:
    """Steps applied one after another to `n_in` columns, as one list of stages."""
    stages: tuple[Stage, ...] = (Stage(tuple(range(n_in)), n_in, _identity),)
    width = n_in
    for step in steps:
        stages, width = _then(stages, width, _step(step, width, names))
        names = None  # only the first step sees the model's named columns
    return stages, width


def _then(
    first: tuple[Stage, ...], width: int, second: tuple[tuple[Stage, ...], int]
) -> tuple[tuple[Stage, ...], int]:
    """Stages of `second` fed by the output of `first` (same inputs as `first`)."""
    inner, out_width = second
    if all(s.apply is _identity for s in first) and len(first) == 1:
        return inner, out_width
    inputs = tuple(sorted({i for s in first for i in s.inputs}))

    def run(cols: list[Column], n: int) -> np.ndarray:
        by_index = dict(zip(inputs, cols, strict=True))
        mid = np.empty((n, width), dtype=object if _any_object(cols) else np.float64)
        at = 0
        for s in first:
            mid[:, at : at + s.width] = s.run([by_index[i] for i in s.inputs], n)
            at += s.width
        mid_cols = [mid[:, j] for j in range(width)]
        out = np.empty((n, out_width), dtype=np.float64)
        at = 0
        for s in inner:
            out[:, at : at + s.width] = s.run([mid_cols[i] for i in s.inputs], n)
            at += s.width
        return out

    return (Stage(inputs, out_width, run),), out_width


def _any_object(cols: list[Column]) -> bool:
    return any(c.dtype == object for c in cols)


def _identity(cols: list[Column], n: int) -> np.ndarray:
    return np.column_stack(cols).reshape(n, len(cols))


def _step(step: Any, width: int, names: Sequence[str] | None) -> tuple[tuple[Stage, ...], int]:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(step, ColumnTransformer):
        return _column_transformer(step, width, names)
    if isinstance(step, Pipeline):
        return _chain([s for _, s in step.steps if s not in (None, "passthrough")], width, names)
    width_out, block = _leaf(step, width)
    coded = type(step).__name__ in _CODED  # the encoders: one lookup per distinct value
    return (Stage(tuple(range(width)), width_out, block, coded),), width_out


_CODED = frozenset({"OneHotEncoder", "OrdinalEncoder"})


def _column_transformer(
    ct: Any, width: int, names: Sequence[str] | None
) -> tuple[tuple[Stage, ...], int]:
    fitted_names = getattr(ct, "feature_names_in_", None)
    lookup = {str(n): i for i, n in enumerate(fitted_names if fitted_names is not None else [])}
    if names is not None and fitted_names is not None and list(fitted_names) != list(names):
        raise Unsupported("the ColumnTransformer was fitted on other columns")
    stages: list[Stage] = []
    total = 0
    for name, transformer, columns in ct.transformers_:
        if transformer == "drop":
            continue
        idx = _column_indices(columns, width, lookup)
        if not idx:
            continue
        if transformer == "passthrough":
            inner: tuple[tuple[Stage, ...], int] = (
                (Stage(tuple(range(len(idx))), len(idx), _identity),),
                len(idx),
            )
        else:
            inner = _step(transformer, len(idx), None)
        part, w = inner
        for s in part:
            stages.append(Stage(tuple(idx[i] for i in s.inputs), s.width, s.apply, s.coded))
        total += w
        slice_ = ct.output_indices_.get(name)
        if slice_ is not None and slice_.stop - slice_.start != w:
            raise Unsupported(f"{name!r} gives {slice_.stop - slice_.start} columns, compiled {w}")
    return tuple(stages), total


def _column_indices(columns: Any, width: int, lookup: Mapping[str, int]) -> list[int]:
    if isinstance(columns, slice):
        return list(range(width))[columns]
    values = list(np.atleast_1d(np.asarray(columns, dtype=object)))
    if values and all(isinstance(v, (bool, np.bool_)) for v in values):
        return [i for i, keep in enumerate(values) if keep]
    out = []
    for v in values:
        if isinstance(v, str):
            if v not in lookup:
                raise Unsupported(f"column {v!r} is not a feature")
            out.append(lookup[v])
        elif isinstance(v, (int, np.integer)):
            out.append(int(v))
        else:
            raise Unsupported(f"column selector {v!r}")
    return out


def _leaf(step: Any, width: int) -> tuple[int, Block]:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )

    if isinstance(step, FunctionTransformer) and step.func is None:
        return width, _identity
    if type(step) is StandardScaler:
        return width, _scaler(step)
    if type(step) is SimpleImputer:
        return width, _imputer(step)
    if type(step) is OneHotEncoder:
        return _one_hot(step)
    if type(step) is OrdinalEncoder:
        return len(step.categories_), _ordinal(step)
    raise Unsupported(f"step {type(step).__name__} is not compiled")


def _numeric(col: Column) -> np.ndarray:
    if col.dtype == object:
        return np.asarray([np.nan if v is None else v for v in col], dtype=np.float64)
    return col.astype(np.float64, copy=False)


def _scaler(s: Any) -> Block:
    mean = s.mean_ if s.with_mean else None
    scale = s.scale_ if s.with_std else None

    def apply(cols: list[Column], n: int) -> np.ndarray:
        x = np.column_stack([_numeric(c) for c in cols]).reshape(n, len(cols))
        if mean is not None:
            x = x - mean
        if scale is not None:
            x = x / scale
        return x

    return apply


def _imputer(s: Any) -> Block:
    if s.add_indicator or getattr(s, "keep_empty_features", False):
        raise Unsupported("SimpleImputer with add_indicator or keep_empty_features")
    missing = s.missing_values
    if not (missing is None or _is_nan(missing)):
        raise Unsupported(f"SimpleImputer with missing_values={missing!r}")
    stats = list(s.statistics_)
    if s._fit_dtype.kind == "O":  # categorical: fill values, keep strings for the encoder
        # as scikit-learn on an object column: NaN is missing for missing_values=nan (None
        # is not), None for missing_values=None
        def _missing(v: Any) -> bool:
            return v is None if missing is None else _is_nan(v)

        def apply_obj(cols: list[Column], n: int) -> np.ndarray:
            out = np.empty((n, len(cols)), dtype=object)
            for j, c in enumerate(cols):
                out[:, j] = [stats[j] if _missing(v) else v for v in c]
            return out

        return apply_obj
    fill = np.asarray(stats, dtype=np.float64)

    def apply(cols: list[Column], n: int) -> np.ndarray:
        x = np.column_stack([_numeric(c) for c in cols]).reshape(n, len(cols))
        return np.where(np.isnan(x), fill, x)

    return apply


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def _category_maps(categories: Sequence[np.ndarray]) -> tuple[list[dict[Any, int]], list[int]]:
    """Per feature: value → index (None is a value like any other, as in scikit-learn),
    and the index of the NaN category (-1 when NaN was not seen in fitting)."""
    maps, nans = [], []
    for cats in categories:
        m: dict[Any, int] = {}
        nan = -1
        for k, c in enumerate(cats):
            if _is_nan(c):
                nan = k
            else:
                m[c] = k
        maps.append(m)
        nans.append(nan)
    return maps, nans


def _codes(col: Input, m: dict[Any, int], nan: int) -> np.ndarray:
    """Category index per value; -1 for a value not seen in fitting (`_is_nan` inlined:
    this runs once per value). A `Coded` column: once per distinct value, then a take."""
    get = m.get
    values = col.values if isinstance(col, Coded) else col
    found = np.fromiter(
        (nan if isinstance(v, float) and v != v else get(v, -1) for v in values),
        dtype=np.int64,
        count=len(values),
    )
    return found[col.codes] if isinstance(col, Coded) else found


def _one_hot(e: Any) -> tuple[int, Block]:
    if e.drop_idx_ is not None:
        raise Unsupported("OneHotEncoder with drop")
    if getattr(e, "_infrequent_enabled", False):
        raise Unsupported("OneHotEncoder with infrequent categories")
    maps, missing = _category_maps(e.categories_)
    offsets = np.cumsum([0] + [len(c) for c in e.categories_])
    width = int(offsets[-1])
    strict = e.handle_unknown == "error"

    def apply(cols: list[Column], n: int) -> np.ndarray:
        out = np.zeros((n, width), dtype=np.float64)
        rows = np.arange(n)
        for j, c in enumerate(cols):
            codes = _codes(c, maps[j], missing[j])
            known = codes >= 0
            if strict and not known.all():
                bad = _dense(c)[~known][0]
                raise ValueError(
                    f"Found unknown categories [{bad!r}] in column {j} during transform"
                )
            out[rows[known], offsets[j] + codes[known]] = 1.0
        return out

    return width, apply


def _ordinal(e: Any) -> Block:
    maps, missing = _category_maps(e.categories_)
    unknown = e.unknown_value if e.handle_unknown == "use_encoded_value" else None
    encoded_missing = e.encoded_missing_value

    def apply(cols: list[Column], n: int) -> np.ndarray:
        out = np.empty((n, len(cols)), dtype=np.float64)
        for j, c in enumerate(cols):
            codes = _codes(c, maps[j], missing[j])
            col = codes.astype(np.float64)
            if missing[j] >= 0:  # missing was a fitted category: encoded as configured
                col[codes == missing[j]] = encoded_missing
            if (codes == -1).any():
                if unknown is None:
                    bad = _dense(c)[codes < 0][0]
                    raise ValueError(
                        f"Found unknown categories [{bad!r}] in column {j} during transform"
                    )
                col[codes < 0] = unknown
            out[:, j] = col
        return out

    return apply
