"""Profiles: per-feature summaries that merge by addition (format 2).

A profile has a *layout* fixed from the reference and *counts*:

- numeric: count, nulls, min, max, sum and sum of squares of (x − shift) over the finite
  values (shift = the reference mean, for numerical stability), the quantile sketch of
  `opsloop.core.sketch` (sparse counts per bucket key), and a histogram over the
  reference's deciles e₀ < … < e_k (e₀ = min, e_k = max) snapped to sketch buckets: with
  keys κ_i = key(e_i) (deduplicated), k + 2 bins — underflow (key < κ₀), [κ_{i−1}, κ_i) …,
  the bucket of the maximum (key = κ_k), overflow (key > κ_k). Snapping moves an edge by at
  most 0.5% of its distance from the reference mean, and makes the histogram a function of
  the sketch (one SQL key per value);
- categorical/boolean: count, nulls, counts of the reference's categories plus `__other__`
  (categories never seen in the reference), and the count of such unseen values (tracked
  while the reference has at most `MAX_KNOWN` distinct values). Up to `TOP_CATEGORIES`
  (1,000) categories are kept, so distances are exact for every feature with at most
  1,000 categories; a feature with more keeps its 1,000 most frequent and pools the rest
  into `__other__` (`FeatureProfile.pooled`). Pooling can only lower a distance (it merges
  bins), by at most what the pooled categories contribute, and the monitor report says
  when a feature was pooled.

Numeric and boolean features also count *type errors*: non-null values that are not a
number (a string such as "abc" in a numeric column) or not true/false; they are counted in
`null_count` too (the value is unusable), and `type_errors` says how many of the nulls were
such values. A profile also keeps the newest prediction time (`newest`, the log's `ts`).

The reference profile keeps, per numeric feature, a seeded uniform sample of at most
`SAMPLE_SIZE` of its finite values (`sample`), for exact KS tests on small windows. A sample
does not merge exactly, so window profiles carry none (their raw values are read from the
engine when needed) and `merge` keeps no sample.

Profiles with the same layout merge by addition (`merge`): counts, nulls, type errors,
histograms, sketches and sums add, min/max and `newest` take the extremes. `profile_frame`
computes a window's profile on a reference's layout with NumPy;
`opsloop.engines.profile_sql` computes the same in one DuckDB pass.
Booleans are categories "true"/"false".
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from opsloop.core.sketch import SketchLayout, add_counts, count_indices
from opsloop.errors import ProfileFormatError

if TYPE_CHECKING:
    import pandas as pd


class FeatureLike(Protocol):
    """What a profile needs of a feature: its name and kind (numeric, categorical or
    boolean). `opsloop.data.features.FeatureSpec` is one; the core layer does not import it."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...


FORMAT = 2
OTHER = "__other__"
TOP_CATEGORIES = 1000  # every category up to this many (was 50: distances read low)
MAX_KNOWN = 1000
HIST_BINS = 10
SAMPLE_SIZE = 5000
BOOLEAN_VALUES = frozenset({"true", "false"})


@dataclass
class FeatureProfile:
    name: str
    kind: str  # numeric | categorical | boolean
    count: int = 0
    null_count: int = 0
    # numeric layout and counts
    edges: list[float] = field(default_factory=list)  # reference deciles (for display)
    edge_keys: list[int] = field(default_factory=list)  # their sketch keys: the bin edges
    layout: SketchLayout | None = None
    shift: float = 0.0
    min: float | None = None
    max: float | None = None
    sum: float = 0.0
    sum_sq: float = 0.0
    sketch: dict[int, int] = field(default_factory=dict)
    # categorical layout
    categories: list[str] = field(default_factory=list)  # top-k; counts has one more: OTHER
    known: list[str] | None = None  # every reference category, when at most MAX_KNOWN
    unseen: int = 0
    # histogram (numeric, len(edges) + 2) or category counts (len(categories) + 1)
    counts: list[int] = field(default_factory=list)
    type_errors: int = 0  # non-null values of the wrong type (also counted in null_count)
    sample: list[float] | None = None  # reference only: seeded sample of finite values

    @property
    def non_null(self) -> int:
        return self.count - self.null_count

    @property
    def mean(self) -> float | None:
        return self.shift + self.sum / self.non_null if self.non_null else None

    @property
    def std(self) -> float | None:
        """Population standard deviation (ddof = 0, as Evidently's normalisation)."""
        if not self.non_null:
            return None
        m = self.sum / self.non_null
        return float(np.sqrt(max(self.sum_sq / self.non_null - m * m, 0.0)))

    @property
    def pooled(self) -> bool:
        """Whether reference categories were pooled into `OTHER` (more than the top-k)."""
        if self.kind == "numeric":
            return False
        return self.known is None or len(self.known) > len(self.categories)

    def labels(self) -> list[str]:
        if self.kind != "numeric":
            return [*self.categories, OTHER]
        if not self.edge_keys or self.layout is None:
            return ["all"]
        lo, hi = self.layout.bounds(np.asarray(self.edge_keys))
        e = lo.tolist()
        return [
            f"< {e[0]:.3g}",
            *(f"{a:.3g} to {b:.3g}" for a, b in itertools.pairwise(e)),
            f"≈ {self.edges[-1]:.3g}",
            f"> {float(hi[-1]):.3g}",
        ]

    def same_layout(self, other: FeatureProfile) -> bool:
        return (
            self.kind,
            self.edge_keys,
            self.layout,
            self.shift,
            self.categories,
            self.known,
        ) == (other.kind, other.edge_keys, other.layout, other.shift, other.categories, other.known)

    def empty(self) -> FeatureProfile:
        """A zero-count profile on this layout (the identity of `merge`)."""
        return replace(
            self,
            count=0,
            null_count=0,
            min=None,
            max=None,
            sum=0.0,
            sum_sq=0.0,
            sketch={},
            unseen=0,
            counts=[0] * len(self.counts),
            type_errors=0,
            sample=None,
        )

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("layout", "sketch")}
        out["layout"] = None if self.layout is None else self.layout.to_dict()
        out["sketch"] = [[k, v] for k, v in sorted(self.sketch.items())]
        if self.sample is None:
            del out["sample"]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureProfile:
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in data.items() if k in known}  # fields of a later opsloop: ignored
        d["layout"] = None if d.get("layout") is None else SketchLayout.from_dict(d["layout"])
        d["sketch"] = {int(k): int(v) for k, v in d.get("sketch", [])}
        return cls(**d)


def _merge_feature(a: FeatureProfile, b: FeatureProfile) -> FeatureProfile:
    if not a.same_layout(b):
        raise ValueError(
            f"profiles of {a.name!r} have different edges or categories: "
            "only profiles computed on the same reference merge"
        )
    lo = [v for v in (a.min, b.min) if v is not None]
    hi = [v for v in (a.max, b.max) if v is not None]
    return replace(
        a,
        count=a.count + b.count,
        null_count=a.null_count + b.null_count,
        min=min(lo) if lo else None,
        max=max(hi) if hi else None,
        sum=a.sum + b.sum,
        sum_sq=a.sum_sq + b.sum_sq,
        sketch=add_counts(a.sketch, b.sketch),
        unseen=a.unseen + b.unseen,
        counts=[x + y for x, y in zip(a.counts, b.counts, strict=True)],
        type_errors=a.type_errors + b.type_errors,
        sample=None,
    )


@dataclass
class Profile:
    n_rows: int
    features: dict[str, FeatureProfile]
    newest: datetime | None = None  # the newest prediction time (windows of the log)

    def to_json(self) -> str:
        out: dict[str, Any] = {
            "format": FORMAT,
            "n_rows": self.n_rows,
            "features": {k: v.to_dict() for k, v in self.features.items()},
        }
        if self.newest is not None:
            out["newest"] = self.newest.isoformat()
        return json.dumps(out)

    @classmethod
    def from_json(cls, text: str) -> Profile:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ProfileFormatError(
                "the stored reference profile is in an older format that cannot be merged "
                "or compared by this version of opsloop",
                expected=f"profile format {FORMAT}",
                got=f"format {data.get('format', 1)}",
                fix="retrain the model (`opsloop train`) to store a new reference profile",
            )
        newest = data.get("newest")
        return cls(
            n_rows=int(data["n_rows"]),
            features={k: FeatureProfile.from_dict(v) for k, v in data["features"].items()},
            newest=None if newest is None else datetime.fromisoformat(newest),
        )

    def empty(self) -> Profile:
        return Profile(0, {k: v.empty() for k, v in self.features.items()})


def merge(a: Profile, b: Profile) -> Profile:
    """Merge two profiles on the same layout by addition (features in both)."""
    names = [k for k in a.features if k in b.features]
    newest = [t for t in (a.newest, b.newest) if t is not None]
    return Profile(
        a.n_rows + b.n_rows,
        {k: _merge_feature(a.features[k], b.features[k]) for k in names},
        max(newest) if newest else None,
    )


def merge_all(reference: Profile, parts: Iterable[Profile]) -> Profile:
    out = reference.empty()
    for part in parts:
        out = merge(out, part)
    return out


# --- NumPy computation ------------------------------------------------------------------


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, int]:
    """(the values as floats, NaN where null or not a number; the number of non-null values
    that are not numbers). Columns of numbers or booleans convert directly; other columns
    (strings, mixed objects) value by value with Python's `float`, which accepts the same
    text as DuckDB's `TRY_CAST(... AS DOUBLE)` ("1.5", " 4 ", "2e3", "1_000", "inf")."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float), 0
    out = np.full(len(values), np.nan)
    errors = 0
    for i, v in enumerate(values.tolist()):
        if v is None or v is pd.NA or (isinstance(v, float) and v != v) or v is pd.NaT:
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError, OverflowError):
            errors += 1
    return out, errors


def numeric_values(values: pd.Series) -> np.ndarray:
    x, _ = parse_numbers(values)
    finite: np.ndarray = x[~np.isnan(x)]
    return finite


def category_values(values: pd.Series) -> np.ndarray:
    import pandas as pd

    kept = values[values.notna()]
    if pd.api.types.is_bool_dtype(kept):
        flags: np.ndarray = np.where(kept.to_numpy(dtype=bool), "true", "false").astype(object)
        return flags
    if pd.api.types.is_string_dtype(kept) and (
        kept.dtype != object or not any(isinstance(v, bool | np.bool_) for v in kept)
    ):  # object columns may hold bools
        strings: np.ndarray = kept.astype(str).to_numpy(dtype=object)
        return strings
    return np.asarray(
        [str(v).lower() if isinstance(v, bool | np.bool_) else str(v) for v in kept], dtype=object
    )


def histogram(edge_keys: Sequence[int], sketch: Mapping[int, int], non_null: int) -> list[int]:
    """The reference histogram (k + 2 bins of the module docstring) from sketch counts."""
    if not edge_keys:
        return [non_null]
    e = np.asarray(edge_keys, dtype=np.int64)
    keys = np.asarray(list(sketch), dtype=np.int64)
    idx = np.searchsorted(e, keys, side="right")
    idx[keys > e[-1]] += 1
    weights = np.asarray(list(sketch.values()), dtype=float)
    counts: list[int] = np.bincount(idx, weights=weights, minlength=len(e) + 2).astype(int).tolist()
    return counts


def _fill(fp: FeatureProfile, values: pd.Series) -> FeatureProfile:
    """Counts of `values` on `fp`'s layout (fp carries the layout; its counts are replaced)."""
    count = len(values)
    if fp.kind == "numeric":
        x, type_errors = parse_numbers(values)
        x = x[~np.isnan(x)]
        d = x[np.isfinite(x)] - fp.shift  # moments of the finite values
        sketch = count_indices(fp.layout.index(x)) if fp.layout is not None else {}
        with np.errstate(over="ignore", invalid="ignore"):  # |x| > 1e154: the square is inf
            s, ss = float(d.sum()), float((d * d).sum())
        return replace(
            fp,
            count=count,
            null_count=count - len(x),
            min=float(x.min()) if len(x) else None,
            max=float(x.max()) if len(x) else None,
            sum=s,
            sum_sq=ss,
            sketch=sketch,
            counts=histogram(fp.edge_keys, sketch, len(x)),
            unseen=0,
            type_errors=type_errors,
            sample=None,
        )
    cats = category_values(values)
    import pandas as pd

    codes = pd.Categorical(cats, categories=fp.categories).codes.astype(np.int64)
    idx = np.where(codes < 0, len(fp.categories), codes)
    unseen = 0
    if fp.known is not None:
        unseen = int((pd.Categorical(cats, categories=fp.known).codes < 0).sum())
    type_errors = 0
    if fp.kind == "boolean":
        type_errors = int(sum(c not in BOOLEAN_VALUES for c in cats))
    return replace(
        fp,
        count=count,
        null_count=count - len(cats),
        unseen=int(unseen),
        counts=np.bincount(idx, minlength=len(fp.categories) + 1).astype(int).tolist(),
        type_errors=type_errors,
    )


def reference_sample(x: np.ndarray, name: str, size: int = SAMPLE_SIZE) -> list[float]:
    """A uniform sample without replacement of at most `size` of the finite values `x`,
    seeded by the feature's name (the same data gives the same sample), sorted."""
    if len(x) > size:
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        x = x[rng.choice(len(x), size, replace=False)]
    sample: list[float] = np.sort(x).tolist()
    return sample


def reference_feature(
    values: pd.Series, spec: FeatureLike, *, n_bins: int = HIST_BINS, top_k: int = TOP_CATEGORIES
) -> FeatureProfile:
    """The layout from the reference data, then its own counts on it."""
    if spec.kind == "numeric":
        x = numeric_values(values)
        x = x[np.isfinite(x)]
        if len(x) == 0:
            return _fill(FeatureProfile(spec.name, "numeric"), values)
        edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)))
        layout = SketchLayout.from_values(x)
        fp = FeatureProfile(
            spec.name,
            "numeric",
            edges=[float(e) for e in edges],
            edge_keys=np.unique(layout.index(edges)).tolist(),
            layout=layout,
            shift=layout.center,
        )
        return replace(_fill(fp, values), sample=reference_sample(x, spec.name))
    cats = category_values(values)
    names: list[str] = []
    freq: list[int] = []
    if len(cats):
        uniq, n = np.unique(cats.astype(str), return_counts=True)
        names, freq = [str(c) for c in uniq], [int(c) for c in n]
    order = sorted(zip(names, freq, strict=True), key=lambda t: (-t[1], t[0]))
    top = [c for c, _ in order[:top_k]]
    known = sorted(names) if len(names) <= MAX_KNOWN else None
    return _fill(FeatureProfile(spec.name, spec.kind, categories=top, known=known), values)


def compute_profile(
    df: pd.DataFrame,
    features: Sequence[FeatureLike],
    *,
    n_bins: int = HIST_BINS,
    top_k: int = TOP_CATEGORIES,
) -> Profile:
    """The reference profile (layout and counts) of a training frame."""
    return Profile(
        n_rows=len(df),
        features={
            f.name: reference_feature(df[f.name], f, n_bins=n_bins, top_k=top_k)
            for f in features
            if f.name in df.columns
        },
    )


def profile_frame(df: pd.DataFrame, reference: Profile, *, time: str = "ts") -> Profile:
    """A window's profile on the reference's layout (features present in `df`; the newest
    value of the column `time` — the window's clock — when the frame has that column)."""
    import pandas as pd

    newest = None
    if time in df.columns and len(df) and df[time].notna().any():
        newest = pd.Timestamp(pd.to_datetime(df[time], utc=True).max()).to_pydatetime()
    return Profile(
        n_rows=len(df),
        features={k: _fill(fp, df[k]) for k, fp in reference.features.items() if k in df.columns},
        newest=newest,
    )
