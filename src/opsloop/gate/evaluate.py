"""The promotion gate: challenger vs champion on the same holdout, decided on statistics.

A challenger passes when every part passes (an intersection–union test, so no correction
is needed across metrics):

1. **metrics** — for each configured rule, the two-sided CI of the improvement (in the
   metric's better direction) must have its lower bound above −δ (`non_inferiority`) or
   above +δ (`superiority`); the point value must meet the rule's floor.
2. **slices** — on every slice with at least `min_rows` rows, the challenger must not be
   significantly worse than the champion by more than the slice margin: one-sided p-values
   of "regressed", Holm-corrected across all slices, compared with (1 − confidence) / 2.
3. **regression set** — the golden examples are answered as expected.
4. **budgets** — latency p99 and artifact size within the configured limits.

The first model (no champion) is judged on floors, the regression set and absolute budgets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.data.window import event_span
from opsloop.errors import ConfigError, DataValidationError

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.config import MetricRule, ProjectConfig, SliceConfig
    from opsloop.gate.stats import Comparison
    from opsloop.registry.base import LoadedModel


@dataclass(frozen=True)
class Scored:
    """A model's answers on the holdout."""

    version: str
    pred: np.ndarray
    score: np.ndarray | None

    def subset(self, rows: np.ndarray) -> Scored:
        return Scored(
            self.version, self.pred[rows], None if self.score is None else self.score[rows]
        )


@dataclass
class GateReport:
    model: str
    version: str
    champion_version: str | None
    passed: bool
    reasons: list[str]
    holdout_rows: int
    confidence: float
    metrics: list[dict[str, Any]]
    slices: list[dict[str, Any]] = field(default_factory=list)
    regression_set: dict[str, Any] | None = None
    budgets: dict[str, Any] = field(default_factory=dict)
    window: str | None = None  # the challenger's training window (train + holdout)
    # the holdout's own time span: first and last event time of its rows (ISO 8601)
    holdout_start: str | None = None
    holdout_end: str | None = None
    # the holdout is too small for the tests to mean much (not a failure)
    warnings: list[str] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def primary(self) -> dict[str, Any]:
        return self.metrics[0]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateReport:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def score_model(model: LoadedModel, frame: pd.DataFrame) -> Scored:
    pred, score = model.predict_frame(frame)
    return Scored(
        model.version, np.asarray(pred), None if score is None else np.asarray(score, float)
    )


# ---- one metric ------------------------------------------------------------------------
def compare(
    rule: MetricRule,
    task: str,
    y: np.ndarray,
    a: Scored,
    k: Scored,
    *,
    confidence: float,
    resamples: int,
    seed: int,
) -> Comparison:
    """Challenger `a` vs champion `k` on `rule.metric`, with the rule's test."""
    from opsloop.gate.stats import delong, mcnemar, paired_bootstrap
    from opsloop.gate.weighted import positive_class, weighted_metric
    from opsloop.metrics import align_labels

    method = rule.method
    if method == "delong":
        if a.score is None or k.score is None:
            raise ValueError("ROC AUC needs scores (predict_proba) from both models")
        truth = y == positive_class(y)
        return delong(truth, a.score, k.score, confidence=confidence, metric=rule.metric)
    if method == "mcnemar":
        ya, pa = align_labels(y, a.pred)
        yk, pk = align_labels(y, k.pred)
        return mcnemar(pa == ya, pk == yk, confidence=confidence, metric=rule.metric)
    return paired_bootstrap(
        rule.metric,
        weighted_metric(rule.metric, task, y, a.pred, a.score),
        weighted_metric(rule.metric, task, y, k.pred, k.score),
        len(y),
        sign=-1.0 if rule.lower_is_better else 1.0,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )


def point_value(rule: MetricRule, task: str, y: np.ndarray, a: Scored) -> float | None:
    from opsloop.metrics import compute_metrics

    return compute_metrics(task, y, a.pred, a.score).get(rule.metric)


def _floor_check(rule: MetricRule, value: float) -> tuple[bool, str] | None:
    if rule.floor is None:
        return None
    ok = value <= rule.floor if rule.lower_is_better else value >= rule.floor
    op = "<=" if rule.lower_is_better else ">="
    return (
        ok,
        f"{rule.metric}={value:.4f} {'meets' if ok else 'misses'} the floor ({op} {rule.floor})",
    )


def evaluate_rule(
    rule: MetricRule,
    task: str,
    y: np.ndarray,
    a: Scored,
    k: Scored | None,
    *,
    confidence: float,
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    """The verdict on one rule, as a JSON-ready row of the report."""
    if k is None:
        value = point_value(rule, task, y, a)
        if value is None:
            raise DataValidationError(
                f"the gate metric {rule.metric!r} could not be computed on the holdout",
                fix="check the holdout has every class and the model gives scores, or "
                "choose another gate metric",
            )
        return rule_row(rule, None, value, confidence=confidence)
    try:
        comp = compare(rule, task, y, a, k, confidence=confidence, resamples=resamples, seed=seed)
    except ValueError as exc:
        raise DataValidationError(
            f"the gate metric {rule.metric!r} could not be compared on the holdout: {exc}",
            fix="check the holdout has every class and both models give scores, or "
            "choose another gate metric",
        ) from None
    return rule_row(rule, comp, comp.challenger, confidence=confidence)


def rule_row(
    rule: MetricRule, comp: Comparison | None, value: float, *, confidence: float
) -> dict[str, Any]:
    """The report row of one rule: its comparison with the champion decided by the policy
    (the CI's lower bound above −δ or +δ), and the floor on ``value`` (the challenger's
    point value; without a champion, ``comp`` is None and the floor alone decides)."""
    row: dict[str, Any] = {
        "metric": rule.metric,
        "policy": rule.policy,
        "margin": rule.margin,
        "floor": rule.floor,
        "direction": "lower" if rule.lower_is_better else "higher",
    }
    reasons: list[str] = []
    passed = True
    if comp is None:
        row.update(
            challenger=value,
            champion=None,
            improvement=None,
            ci_low=None,
            ci_high=None,
            method=None,
            p_value=None,
        )
        reasons.append("no champion yet: judged on the floor alone")
    else:
        threshold = rule.margin if rule.policy == "superiority" else -rule.margin
        ok = comp.ci_low > threshold
        row.update(comp.to_dict())
        row.update(p_value=comp.p_above(threshold), threshold=threshold)
        pct = round(confidence * 100, 1)
        reasons.append(
            f"{rule.policy}: {rule.metric} {comp.challenger:.4f} vs {comp.champion:.4f}, "
            f"improvement {comp.improvement:+.4f} ({pct:g}% CI {comp.ci_low:+.4f} to "
            f"{comp.ci_high:+.4f}, {comp.method}); lower bound "
            f"{'>' if ok else '<='} {threshold:+.4f}"
        )
        passed &= ok
    floor = _floor_check(rule, value)
    if floor is not None:
        passed &= floor[0]
        reasons.insert(0, floor[1])
    row.update(passed=passed, reasons=reasons)
    return row


# ---- slices ----------------------------------------------------------------------------
def compared(comp: Comparison, margin: float) -> dict[str, Any]:
    """A slice row's fields from its comparison with the champion (both gates' slices)."""
    return {
        "champion": comp.champion,
        "improvement": comp.improvement,
        "ci_low": comp.ci_low,
        "ci_high": comp.ci_high,
        "method": comp.method,
        "p_regression": comp.p_below(-margin),
    }


def slice_masks(spec: SliceConfig, frame: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """(label, boolean mask) per slice; raises ConfigError on a bad column or query."""
    if spec.column is not None:
        if spec.column not in frame.columns:
            raise ConfigError(
                f"gate.slices {spec.name!r}: column {spec.column!r} is not in the data",
                expected=f"one of {list(frame.columns)}",
                fix="correct slices[].column",
            )
        values = frame[spec.column]
        return [
            (f"{spec.name}={v}", (values == v).to_numpy())
            for v in sorted(values.dropna().unique().tolist(), key=str)
        ]
    import duckdb

    data = frame.reset_index(drop=True).assign(__opsloop_row=np.arange(len(frame)))
    con = duckdb.connect()
    try:
        con.register("holdout", data)
        rows = con.execute(f"SELECT __opsloop_row FROM holdout WHERE {spec.query}").fetchnumpy()[
            "__opsloop_row"
        ]
    except duckdb.Error as exc:
        raise ConfigError(
            f"gate.slices {spec.name!r}: the query {spec.query!r} failed: "
            f"{str(exc).splitlines()[0]}",
            expected="a SQL boolean expression over the data's columns, e.g. "
            "\"plan = 'pro' AND tenure_months < 6\"",
            fix="correct slices[].query",
        ) from None
    finally:
        con.close()
    mask = np.zeros(len(frame), dtype=bool)
    mask[np.asarray(rows, dtype=int)] = True
    if not mask.any():
        raise ConfigError(
            f"gate.slices {spec.name!r}: the query {spec.query!r} matched no holdout rows",
            expected="a query that selects a segment of the data",
            fix="check the values in the query against the data (an empty slice tests nothing)",
        )
    return [(spec.name, mask)]


def evaluate_slices(
    cfg: ProjectConfig, frame: pd.DataFrame, y: np.ndarray, a: Scored, k: Scored | None
) -> tuple[list[dict[str, Any]], list[str], bool]:
    gate = cfg.gate
    rule = gate.primary
    alpha = (1 - gate.confidence) / 2
    rows: list[dict[str, Any]] = []
    tested: list[int] = []
    for spec in gate.slices:
        margin = rule.margin if spec.margin is None else spec.margin
        for label, mask in slice_masks(spec, frame):
            n = int(mask.sum())
            row: dict[str, Any] = {
                "slice": label,
                "rows": n,
                "metric": rule.metric,
                "margin": margin,
                "status": "ok",
            }
            rows.append(row)
            sub_a, y_sub = a.subset(mask), y[mask]
            row["challenger"] = point_value(rule, cfg.task, y_sub, sub_a)
            if n < spec.min_rows:
                row.update(status="skipped", note=f"{n} rows < min_rows {spec.min_rows}")
                continue
            if k is None:
                row["note"] = "no champion to compare with"
                continue
            try:
                comp = compare(
                    rule,
                    cfg.task,
                    y_sub,
                    sub_a,
                    k.subset(mask),
                    confidence=gate.confidence,
                    resamples=gate.resamples,
                    seed=gate.seed,
                )
            except ValueError as exc:
                row.update(status="skipped", note=f"not computable: {exc}")
                continue
            row.update(compared(comp, margin))
            tested.append(len(rows) - 1)
    reasons, ok = judge_slices(rows, tested, rule.metric, alpha, has_champion=k is not None)
    return rows, reasons, ok


def judge_slices(
    rows: list[dict[str, Any]], tested: list[int], metric: str, alpha: float, *, has_champion: bool
) -> tuple[list[str], bool]:
    """Holm-correct the slices' one-sided p-values of "regressed" (``rows[i]["p_regression"]``
    for i in ``tested``), mark the rows regressed below ``alpha``; (reasons, no slice
    regressed)."""
    from opsloop.gate.stats import holm

    adjusted = holm([rows[i]["p_regression"] for i in tested])
    reasons: list[str] = []
    for i, p in zip(tested, adjusted, strict=True):
        rows[i]["p_holm"] = p
        if p < alpha:
            rows[i]["status"] = "regressed"
            r = rows[i]
            reasons.append(
                f"slice {r['slice']}: {metric} {r['challenger']:.4f} vs "
                f"{r['champion']:.4f} ({r['improvement']:+.4f}) regressed beyond "
                f"-{r['margin']} (Holm p={p:.3g} < {alpha:g})"
            )
    ok = not reasons
    if rows and not has_champion:
        reasons.append(f"slices: {len(rows)} reported, none tested (no champion yet)")
    elif rows and ok:
        reasons.append(f"no slice regressed ({len(tested)} tested, Holm-corrected at {alpha:g})")
    return reasons, ok


# ---- regression set --------------------------------------------------------------------
def evaluate_regression_set(
    cfg: ProjectConfig, root: Path, challenger: LoadedModel
) -> tuple[dict[str, Any], str, bool]:
    import pandas as pd

    from opsloop.metrics import align_labels

    spec = cfg.gate.regression_set
    assert spec is not None
    path = (root / spec.path).resolve()
    if not path.is_file():
        raise ConfigError(
            f"gate.regression_set: {path} does not exist",
            fix="create the file or correct gate.regression_set.path",
        )
    golden = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    expected_col = spec.expected or cfg.target
    missing = [c for c in [*challenger.feature_names, expected_col] if c not in golden.columns]
    if missing:
        raise DataValidationError(
            f"the regression set {path.name} lacks the column(s) {missing}",
            expected=f"the model's features and the expected output {expected_col!r}",
            got=f"columns {list(golden.columns)}",
            fix="add them to the regression set",
        )
    pred, _ = challenger.predict_frame(golden)
    expected = golden[expected_col].to_numpy()
    if cfg.task == "regression":
        error = np.abs(np.asarray(pred, float) - expected.astype(float))
        ok_rows = error <= spec.tolerance + 1e-12
    else:
        e, p = align_labels(expected, np.asarray(pred))
        ok_rows = e == p
    share = float(ok_rows.mean()) if len(golden) else 1.0
    ok = share >= spec.min_pass
    ids = golden[cfg.id_column] if cfg.id_column in golden.columns else golden.index
    failures = [
        {"id": str(i), "expected": _plain(x), "got": _plain(g)}
        for i, x, g, good in zip(ids, expected, pred, ok_rows, strict=True)
        if not good
    ]
    result = {
        "path": spec.path,
        "rows": len(golden),
        "passed_rows": int(ok_rows.sum()),
        "share": share,
        "min_pass": spec.min_pass,
        "tolerance": spec.tolerance,
        "passed": ok,
        "failures": failures[:20],
    }
    reason = (
        f"regression set: {int(ok_rows.sum())}/{len(golden)} golden rows as expected "
        f"({'>=' if ok else '<'} {spec.min_pass:.0%} required)"
    )
    return result, reason, ok


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# ---- operational budget ----------------------------------------------------------------
def _model_bytes(model: LoadedModel) -> int:
    import cloudpickle

    return len(cloudpickle.dumps(model.estimator))


def measure_latency(
    models: list[LoadedModel], frame: pd.DataFrame, rows: int
) -> list[dict[str, float]]:
    """Single-row prediction latency (ms) per model, interleaved so machine noise hits
    every model alike."""
    batch = frame.head(rows)
    singles = [batch.iloc[[i]] for i in range(len(batch))]
    for model in models:  # warm-up
        for one in singles[:5]:
            model.predict_frame(one)
    timings: list[list[float]] = [[] for _ in models]
    for one in singles:
        for j, model in enumerate(models):
            t0 = time.perf_counter()
            model.predict_frame(one)
            timings[j].append((time.perf_counter() - t0) * 1000)
    return [
        {
            "p50_ms": float(np.percentile(t, 50)),
            "p99_ms": float(np.percentile(t, 99)),
            "rows": len(t),
        }
        for t in timings
    ]


def evaluate_budgets(
    cfg: ProjectConfig,
    frame: pd.DataFrame,
    challenger: LoadedModel,
    champion: LoadedModel | None,
) -> tuple[dict[str, Any], list[str], bool]:
    b = cfg.gate.budgets
    models = [challenger] if champion is None else [challenger, champion]
    # Timing costs batch_rows single-row predictions per model (≈1 s for a pipeline with
    # a ColumnTransformer), so it runs only when a latency limit asks for it.
    timed = b.max_latency_p99_ms is not None or b.max_latency_p99_ratio is not None
    none: dict[str, float | None] = {"p50_ms": None, "p99_ms": None, "rows": 0}
    latency = (
        measure_latency(models, frame, b.batch_rows) if timed else [dict(none) for _ in models]
    )
    sizes = [_model_bytes(m) / 1e6 for m in models]
    result: dict[str, Any] = {
        "challenger": {**latency[0], "size_mb": sizes[0]},
        "champion": None if champion is None else {**latency[1], "size_mb": sizes[1]},
        "limits": b.model_dump(exclude={"batch_rows"}),
        "checks": [],
    }
    checks: list[tuple[str, float, float]] = []  # (what, value, limit)
    p99 = [m["p99_ms"] or 0.0 for m in latency]
    if b.max_latency_p99_ms is not None:
        checks.append(("latency p99 ms", p99[0], b.max_latency_p99_ms))
    if b.max_size_mb is not None:
        checks.append(("size MB", sizes[0], b.max_size_mb))
    if champion is not None and b.max_latency_p99_ratio is not None:
        checks.append(
            ("latency p99 vs champion", p99[0] / max(p99[1], 1e-9), b.max_latency_p99_ratio)
        )
    if champion is not None and b.max_size_ratio is not None:
        checks.append(("size vs champion", sizes[0] / sizes[1], b.max_size_ratio))
    reasons = []
    ok = True
    for what, value, limit in checks:
        good = value <= limit
        ok &= good
        result["checks"].append({"budget": what, "value": value, "limit": limit, "passed": good})
        reasons.append(f"budget {what}: {value:.3g} {'<=' if good else '>'} {limit:g}")
    result["passed"] = ok
    return result, reasons, ok


# ---- the whole gate --------------------------------------------------------------------
def run_gate(
    cfg: ProjectConfig,
    *,
    holdout: pd.DataFrame,
    challenger: LoadedModel,
    champion: LoadedModel | None,
    root: Path,
    window: str | None = None,
) -> GateReport:
    gate = cfg.gate
    y = holdout[cfg.target].to_numpy()
    a = score_model(challenger, holdout)
    k = None if champion is None else score_model(champion, holdout)
    reasons: list[str] = []
    passed = True
    metric_rows = []
    for rule in gate.metrics:
        row = evaluate_rule(
            rule,
            cfg.task,
            y,
            a,
            k,
            confidence=gate.confidence,
            resamples=gate.resamples,
            seed=gate.seed,
        )
        metric_rows.append(row)
        reasons.extend(row["reasons"])
        passed &= row["passed"]
    slice_rows, slice_reasons, ok = evaluate_slices(cfg, holdout, y, a, k)
    reasons.extend(slice_reasons)
    passed &= ok
    regression = None
    if gate.regression_set is not None:
        regression, reason, ok = evaluate_regression_set(cfg, root, challenger)
        reasons.append(reason)
        passed &= ok
    budgets, budget_reasons, ok = evaluate_budgets(cfg, holdout, challenger, champion)
    reasons.extend(budget_reasons)
    passed &= ok
    span = holdout_span(holdout, cfg.time_column)
    return GateReport(
        model=cfg.model,
        version=challenger.version,
        champion_version=None if champion is None else champion.version,
        passed=passed,
        reasons=list(dict.fromkeys(reasons)),  # e.g. "no champion yet" once, not per rule
        holdout_rows=len(holdout),
        confidence=gate.confidence,
        metrics=metric_rows,
        slices=slice_rows,
        regression_set=regression,
        budgets=budgets,
        window=window,
        holdout_start=span[0],
        holdout_end=span[1],
        warnings=holdout_warnings(cfg, y),
    )


def holdout_warnings(cfg: ProjectConfig, y: np.ndarray) -> list[str]:
    """Why the holdout is too small for the gate's statistics to mean much: fewer rows than
    `gate.holdout_min_rows`, or (classification) a class with fewer rows than
    `gate.holdout_min_class_rows` — DeLong's AUC variance and McNemar's discordant pairs
    rest on both classes, and with a handful of rows any interval is too wide to tell two
    models apart."""
    gate = cfg.gate
    found = []
    if len(y) < gate.holdout_min_rows:
        found.append(
            f"holdout too small: {len(y)} rows < gate.holdout_min_rows {gate.holdout_min_rows}"
        )
    if cfg.task != "regression" and len(y):
        values, counts = np.unique(y[~_missing(y)], return_counts=True)
        if len(values) < 2:
            found.append(
                f"holdout too small: {len(values)} class(es) in it, the gate needs at least 2"
            )
        elif counts.min() < gate.holdout_min_class_rows:
            rare = values[counts.argmin()]
            rare = rare.item() if isinstance(rare, np.generic) else rare
            found.append(
                f"holdout too small: class {rare!r} has {int(counts.min())} rows < "
                f"gate.holdout_min_class_rows {gate.holdout_min_class_rows}"
            )
    if found:
        found[-1] += (
            "; the gate's verdict means little — widen the training window "
            "(retrain.training_window, --from/--to) or the holdout (split.holdout)"
        )
    return found


def _missing(y: np.ndarray) -> np.ndarray:
    import pandas as pd

    return np.asarray(pd.isna(y), dtype=bool)


def holdout_span(holdout: pd.DataFrame, time_column: str) -> tuple[str | None, str | None]:
    """The first and last event time of the holdout rows, ISO 8601 (None without the time
    column or rows)."""
    first, last = event_span(holdout, time_column)
    return (first.isoformat() if first else None), (last.isoformat() if last else None)
