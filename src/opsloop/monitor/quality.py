"""Data quality of a monitoring window, from the aggregates of the profiling pass.

Expectations come from the deployed version: its reference profile (missing rates,
min/max, known categories), its pandera contract (`schema.yaml`, `opsloop.data.schema`)
and `quality_expectations.json` learned at training time (rows per hour of the reference,
each categorical feature's rate of new categories); `monitor.quality` overrides the limits.

Checks (summary key `quality`: `{"passed", "checks": [...]}`):

| check | per | breach when |
|---|---|---|
| `schema` | feature | column absent, nulls the contract forbids, or a range check broken |
| `missing_rate` | feature | missing share > the reference's + `missing_tolerance` |
| `out_of_range` | numeric | share outside the reference's [min, max] > `max_out_of_range` |
|  |  | + 2/(n_ref + 1) (the chance a new value falls outside n_ref values) |
| `unseen` | categorical, boolean | new categories' share > `max_unseen` + the reference's |
|  |  | own rate (Good–Turing) |
| `type_errors` | numeric, boolean | wrong-type share > `max_type_errors` (0: any is a breach) |
| `volume` | window | rows outside the configured or learned range |
| `freshness` | window | newest prediction older than `max_age` at the window's end (if set) |

Why the contract is not run by pandera on the rows: that needs the window as a frame
(memory grows with the window). Its column-level rules — presence, dtype (coercible: the
`type_errors` check, `TRY_CAST` in SQL), nullability, range checks (against the window's
min/max) — are all functions of the profile's aggregates, computed in the same pass.
Checks that need row values (e.g. `isin`, custom checks) are listed as not evaluated.

Share limits are decided on the one-sided Clopper–Pearson lower bound of the window's share
(`confidence`, 0.99): a breach means the data show, beyond sampling noise, that the share
exceeds the limit, so two odd rows in a window of ten do not raise an alarm.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from opsloop.core.profile import FeatureProfile, Profile
from opsloop.data.features import FeatureSpec
from opsloop.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.config import MonitorQualityConfig

EXPECTATIONS_ARTIFACT = "quality_expectations.json"
_RANGE_CHECKS = {
    "in_range",
    "greater_than",
    "greater_than_or_equal_to",
    "less_than",
    "less_than_or_equal_to",
    "equal_to",
}


# --- expectations learned at training time ---------------------------------------------


@dataclass(frozen=True)
class Expectations:
    reference_rows: int
    rows_per_hour: float | None = None  # reference rows / its time column's span
    unseen_rate: dict[str, float] = field(default_factory=dict)  # Good–Turing, per feature

    def to_json(self) -> str:
        return json.dumps({"format": 1, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> Expectations:
        data = json.loads(text)
        rate = data.get("rows_per_hour")
        return cls(
            int(data.get("reference_rows", 0)),
            None if rate is None else float(rate),
            {str(k): float(v) for k, v in data.get("unseen_rate", {}).items()},
        )


def learn_expectations(
    frame: pd.DataFrame, features: Sequence[FeatureSpec], time_column: str | None
) -> Expectations:
    """Rows per hour over the time column's span; per categorical feature the share of rows
    whose category occurs once (Good–Turing: the chance that a new row brings a category
    the reference never saw)."""
    import pandas as pd

    rate = None
    if time_column is not None and time_column in frame.columns and len(frame) >= 2:
        ts = pd.to_datetime(frame[time_column], utc=True, errors="coerce").dropna()
        span = (ts.max() - ts.min()).total_seconds() / 3600 if len(ts) >= 2 else 0.0
        rate = len(frame) / span if span > 0 else None
    unseen: dict[str, float] = {}
    for spec in features:
        if spec.kind != "numeric" and spec.name in frame.columns:
            values = frame[spec.name].dropna().astype(str)
            counts = values.value_counts()
            unseen[spec.name] = float((counts == 1).sum() / len(values)) if len(values) else 0.0
    return Expectations(len(frame), rate, unseen)


# --- the pandera contract, as column rules ------------------------------------------------


@dataclass(frozen=True)
class ColumnContract:
    dtype: str | None
    nullable: bool
    required: bool
    minimum: tuple[float, bool] | None = None  # (bound, inclusive)
    maximum: tuple[float, bool] | None = None
    unevaluated: tuple[str, ...] = ()


def contract_from_yaml(text: str) -> dict[str, ColumnContract]:
    """The column rules of a pandera schema stored as YAML (`opsloop.data.schema`)."""
    from opsloop.data.schema import pandera

    pa = pandera()

    try:
        schema = pa.DataFrameSchema.from_yaml(text)
    except Exception as exc:  # pandera/yaml raise many types for a damaged file
        raise InvalidInputError(
            f"the stored data contract (schema.yaml) cannot be read: {type(exc).__name__}: {exc}",
            expected="a pandera schema written by `opsloop train`",
            fix="retrain with `opsloop train --reset-schema` to store a new contract, or "
            "turn the check off with monitor.quality.schema: false",
        ) from None
    out = {}
    for name, col in schema.columns.items():
        lo: tuple[float, bool] | None = None
        hi: tuple[float, bool] | None = None
        other = []
        for check in col.checks:
            st = check.statistics or {}
            if check.name not in _RANGE_CHECKS:
                other.append(str(check.name))
                continue
            if check.name == "equal_to":
                lo = hi = (float(st["value"]), True)
                continue
            if "min_value" in st:
                inclusive = check.name != "greater_than" and bool(st.get("include_min", True))
                bound = (float(st["min_value"]), inclusive)
                lo = bound if lo is None or bound[0] > lo[0] else lo
            if "max_value" in st:
                inclusive = check.name != "less_than" and bool(st.get("include_max", True))
                bound = (float(st["max_value"]), inclusive)
                hi = bound if hi is None or bound[0] < hi[0] else hi
        out[str(name)] = ColumnContract(
            None if col.dtype is None else str(col.dtype),
            bool(col.nullable),
            bool(col.required),
            lo,
            hi,
            tuple(other),
        )
    return out


# --- the checks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityCheck:
    check: str
    feature: str | None
    status: str  # ok | breach | insufficient_data
    value: float | None
    expected: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class QualityReport:
    checks: list[QualityCheck]

    @property
    def passed(self) -> bool:
        return all(c.status != "breach" for c in self.checks)

    @property
    def breaches(self) -> list[QualityCheck]:
        return [c for c in self.checks if c.status == "breach"]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [c.to_dict() for c in self.checks]}


def lower_bound(k: int, n: int, confidence: float) -> float:
    """One-sided Clopper–Pearson lower confidence bound of a share k / n."""
    from scipy import stats

    return 0.0 if k <= 0 or n <= 0 else float(stats.beta.ppf(1 - confidence, k, n - k + 1))


def exceeds(k: int, n: int, limit: float, confidence: float) -> bool:
    """Whether the share k / n exceeds `limit` beyond sampling noise: its one-sided
    Clopper–Pearson lower bound is above the limit, which holds exactly when
    P(Bin(n, limit) ≥ k) < 1 − confidence (the tail grows with p). Decided without SciPy
    (~0.85 s and ~40 MiB to import): no when k / n ≤ limit (the bound never exceeds k / n),
    yes when the Chernoff bound exp(−n·KL(k/n ‖ limit)) of the tail is already below
    1 − confidence, else by the tail itself (`binomial_tail`)."""
    if k <= 0 or n <= 0 or k / n <= limit:
        return False
    if limit <= 0.0:
        return True
    q, p = k / n, limit
    kl = q * math.log(q / p) + (0.0 if q >= 1.0 else (1 - q) * math.log((1 - q) / (1 - p)))
    if -n * kl < math.log(1 - confidence):
        return True
    return binomial_tail(k, n, p) < 1 - confidence


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), 1 ≤ k ≤ n, 0 < p < 1: the regularized incomplete
    beta I_p(k, n − k + 1) by its continued fraction (modified Lentz; Numerical Recipes
    §6.4), in pure Python so that the quality checks need no SciPy."""
    a, b = float(k), float(n - k + 1)
    if p >= (a + 1) / (a + b + 2):
        return 1.0 - _beta_cf_reg(b, a, 1.0 - p)
    return _beta_cf_reg(a, b, p)


def _beta_cf_reg(a: float, b: float, x: float) -> float:
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 100_000):
        for num in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return min(max(front * f / a, 0.0), 1.0)


def _share(
    check: str, name: str, k: int, n: int, limit: float, confidence: float, expected: str, what: str
) -> QualityCheck:
    if n == 0:
        return QualityCheck(
            check,
            name,
            "insufficient_data",
            None,
            expected,
            f"nothing to judge: no {what.split(' ', 1)[0]} in the window",
        )
    breach = exceeds(k, n, limit, confidence)
    return QualityCheck(
        check, name, "breach" if breach else "ok", k / n, expected, f"{k} of {n} {what}"
    )


def _schema(
    name: str, cur: FeatureProfile | None, rule: ColumnContract | None, n_rows: int
) -> QualityCheck:
    expected = (
        "column present"
        if rule is None
        else (
            f"column present, dtype {rule.dtype or 'any'}" + ("" if rule.nullable else ", no nulls")
        )
    )
    if n_rows == 0:
        return QualityCheck(
            "schema", name, "insufficient_data", None, expected, "no rows in the window"
        )
    if cur is None:
        return QualityCheck(
            "schema", name, "breach", None, expected, "the column is absent from the logged rows"
        )
    problems = []
    nulls = cur.null_count - cur.type_errors
    if rule is not None and not rule.nullable and nulls:
        problems.append(f"{nulls} null(s) in a column the contract declares not nullable")
    if rule is not None and rule.minimum is not None and cur.min is not None:
        bound, inclusive = rule.minimum
        if cur.min < bound or (not inclusive and cur.min == bound):
            problems.append(
                f"minimum {cur.min:.6g} below the contract's "
                f"{'≥' if inclusive else '>'} {bound:.6g}"
            )
    if rule is not None and rule.maximum is not None and cur.max is not None:
        bound, inclusive = rule.maximum
        if cur.max > bound or (not inclusive and cur.max == bound):
            problems.append(
                f"maximum {cur.max:.6g} above the contract's "
                f"{'≤' if inclusive else '<'} {bound:.6g}"
            )
    notes = (
        ""
        if rule is None or not rule.unevaluated
        else f" (not evaluated from aggregates: {', '.join(rule.unevaluated)})"
    )
    if problems:
        return QualityCheck(
            "schema", name, "breach", float(len(problems)), expected, "; ".join(problems) + notes
        )
    return QualityCheck(
        "schema",
        name,
        "ok",
        0.0,
        expected,
        (
            "as the contract says"
            if rule is not None
            else "present (no contract stored with the version)"
        )
        + notes,
    )


def _feature_checks(
    spec: FeatureSpec,
    ref: FeatureProfile,
    cur: FeatureProfile,
    cfg: MonitorQualityConfig,
    expectations: Expectations | None,
    rule: ColumnContract | None,
) -> list[QualityCheck]:
    name, conf = spec.name, cfg.confidence
    out = []
    ref_missing = (ref.null_count - ref.type_errors) / ref.count if ref.count else 0.0
    tol = cfg.limit(name, "missing_tolerance")
    out.append(
        _share(
            "missing_rate",
            name,
            cur.null_count - cur.type_errors,
            cur.count,
            min(ref_missing + tol, 1.0),
            conf,
            f"≤ {ref_missing + tol:.2%} (reference {ref_missing:.2%} + {tol:.2%})",
            "rows missing",
        )
    )
    if ref.kind == "numeric":
        if not ref.edge_keys or len(cur.counts) < 2:
            out.append(
                QualityCheck(
                    "out_of_range",
                    name,
                    "insufficient_data",
                    None,
                    "within the reference's range",
                    "the reference has no values of this feature",
                )
            )
        else:
            limit = cfg.limit(name, "max_out_of_range") + 2 / (ref.non_null + 1)
            below, above = cur.counts[0], cur.counts[-1]
            check = _share(
                "out_of_range",
                name,
                below + above,
                cur.non_null,
                limit,
                conf,
                f"≤ {limit:.2%} outside [{ref.min:.6g}, {ref.max:.6g}]",
                "values outside the reference's range",
            )
            if cur.non_null:
                check = replace(
                    check,
                    detail=f"{check.detail} ({below} below, {above} above;"
                    " at the sketch's resolution)",
                )
            out.append(check)
    else:
        base = expectations.unseen_rate.get(name, 0.0) if expectations else 0.0
        limit = cfg.limit(name, "max_unseen") + base
        expected = f"≤ {limit:.2%} new categories" + (
            f" (reference's own rate {base:.2%})" if base else ""
        )
        if ref.known is None:
            out.append(
                QualityCheck(
                    "unseen",
                    name,
                    "insufficient_data",
                    None,
                    expected,
                    "the reference has too many categories to track new ones",
                )
            )
        else:
            out.append(
                _share(
                    "unseen",
                    name,
                    cur.unseen,
                    cur.non_null,
                    limit,
                    conf,
                    expected,
                    "values never seen in the reference",
                )
            )
    if ref.kind in ("numeric", "boolean"):
        limit = cfg.limit(name, "max_type_errors")
        dtype = rule.dtype if rule is not None and rule.dtype else spec.dtype
        out.append(
            _share(
                "type_errors",
                name,
                cur.type_errors,
                cur.count,
                limit,
                conf,
                f"values of type {dtype}" + (f" (≤ {limit:.2%} others)" if limit else ""),
                "values of the wrong type",
            )
        )
    return out


def _volume(
    n: int, hours: float, cfg: MonitorQualityConfig, expectations: Expectations | None
) -> QualityCheck:
    v = cfg.volume
    rate = expectations.rows_per_hour if expectations is not None else None
    learned = f"{rate:.4g} rows/hour in the reference × {hours:.4g} h" if rate else ""
    lo: float | None = (
        float(v.min_rows)
        if v.min_rows is not None
        else (v.learned_low * rate * hours if rate and v.learned_low else None)
    )
    hi: float | None = (
        float(v.max_rows)
        if v.max_rows is not None
        else (v.learned_high * rate * hours if rate and v.learned_high else None)
    )
    if lo is not None and lo < 1 and v.min_rows is None:
        lo = None  # a learned bound below one row cannot be breached
    if lo is None and hi is None:
        why = (
            f"the learned rate ({learned}) expects too few rows to judge"
            if rate
            else "no rate learned with the version and no monitor.quality.volume bounds"
        )
        return QualityCheck("volume", None, "insufficient_data", float(n), "—", why)
    expected = (
        " and ".join(
            p
            for p in (
                f"≥ {lo:.6g}" if lo is not None else "",
                f"≤ {hi:.6g}" if hi is not None else "",
            )
            if p
        )
        + " rows"
    )
    breach = (lo is not None and n < lo) or (hi is not None and n > hi)
    return QualityCheck(
        "volume",
        None,
        "breach" if breach else "ok",
        float(n),
        expected + (f" ({learned})" if learned else ""),
        f"{n} rows in the window",
    )


def _freshness(
    newest: datetime | None, start: datetime, end: datetime, max_age: timedelta
) -> QualityCheck:
    expected = f"newest prediction at most {max_age} old"
    if newest is None:
        if max_age <= end - start:
            return QualityCheck(
                "freshness",
                None,
                "breach",
                None,
                expected,
                f"no prediction in the window ({end - start})",
            )
        return QualityCheck(
            "freshness",
            None,
            "insufficient_data",
            None,
            expected,
            f"no prediction in the window ({end - start}), which is shorter than the maximum age",
        )
    age = end - newest
    return QualityCheck(
        "freshness",
        None,
        "breach" if age > max_age else "ok",
        age.total_seconds(),
        expected,
        f"newest prediction at {newest:%Y-%m-%d %H:%M:%S} UTC, {age} old",
    )


def check_window(
    reference: Profile,
    current: Profile,
    features: Sequence[FeatureSpec],
    cfg: MonitorQualityConfig,
    *,
    window_start: datetime,
    window_end: datetime,
    contract: Mapping[str, ColumnContract] | None = None,
    expectations: Expectations | None = None,
) -> QualityReport:
    """Quality checks of a window's profile against the reference and the contract."""
    checks = check_features(
        reference, current, features, cfg, contract=contract, expectations=expectations
    )
    hours = (window_end - window_start).total_seconds() / 3600
    checks.append(_volume(current.n_rows, hours, cfg, expectations))
    if cfg.max_age is not None:
        checks.append(_freshness(current.newest, window_start, window_end, cfg.max_age))
    return QualityReport(checks)


def check_features(
    reference: Profile,
    current: Profile,
    features: Sequence[FeatureSpec],
    cfg: MonitorQualityConfig,
    *,
    contract: Mapping[str, ColumnContract] | None = None,
    expectations: Expectations | None = None,
) -> list[QualityCheck]:
    """The per-feature checks (schema, missing rate, range, new categories, type errors) of
    a profile against the reference: a window's without volume and freshness, or any data
    set's (`opsloop.monitor.datasets`)."""
    checks: list[QualityCheck] = []
    for spec in features:
        ref = reference.features.get(spec.name)
        if ref is None:
            continue
        cur = current.features.get(spec.name)
        rule = contract.get(spec.name) if contract is not None else None
        if cfg.schema_:
            checks.append(_schema(spec.name, cur, rule, current.n_rows))
        if cur is not None:
            checks.extend(_feature_checks(spec, ref, cur, cfg, expectations, rule))
    return checks
