"""Analysis of a running rollout step: is the candidate as healthy as stable?

Inputs, all from shared storage so every replica and agent reaches the same verdict:

- **serving statistics** (`serve_stats`, flushed by every replica): requests, errors and a
  latency histogram of the model's prediction time per (version, route). The candidate is
  judged on the current step; stable's latency baseline is taken over the whole rollout
  (at a 100 % canary step stable gets no traffic).
- **the prediction log** (through the engine): candidate answers (`candidate` or `shadow`
  rows) and stable answers over the current step, joined with labels where they arrived.

Checks (`deploy.analysis`):

- **error_rate**: candidate errors / requests ≤ `max_error_rate` (needs `min_requests`
  candidate requests);
- **p99_ratio**: candidate p99 / stable p99 ≤ `max_p99_ratio` (`latency_min_requests` of
  each: with fewer than ~100 a p99 is just the slowest request, one scheduler hiccup);
- **p99**: candidate p99 ≤ `max_p99` (`latency_min_requests`);
- **divergence**: Jensen-Shannon distance (base 2) of the two prediction distributions ≤
  `max_divergence`, or not significant (chi-square homogeneity p ≥ 0.01 / looks, where
  looks = bake / interval is how often a step is tested: see `looks`) (`min_requests`
  logged rows of each): scores on 10 equal bins of [0, 1] (binary), class frequencies
  (multiclass), stable's deciles (regression);
- **performance**: candidate `monitor.performance.metric` ≥ stable's − `performance_margin`
  (`min_labels` labelled rows of each).

A check without enough data is `pending` and does not block. Verdict: **fail** as soon as a
check fails (the controller rolls back); **pass** when the step has baked for `deploy.bake`,
the candidate has `min_requests` requests and nothing failed; otherwise **wait**.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop import latency
from opsloop.config import LOWER_IS_BETTER, AnalysisConfig
from opsloop.store.records import Rollout, ServeStat

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.runtime import Runtime

CANDIDATE_ROUTES = ("candidate", "shadow")
DIVERGENCE_ALPHA = 0.01


@dataclass
class Check:
    name: str
    status: str  # pass | fail | pending
    value: float | None
    limit: float | None
    detail: str


@dataclass
class Analysis:
    verdict: str  # pass | fail | wait
    checks: list[Check]
    candidate_requests: int
    stable_requests: int
    baked: float  # seconds the step has run
    bake: float
    since: str
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]


def _pending(name: str, limit: float | None, detail: str) -> Check:
    return Check(name, "pending", None, limit, detail)


def _judge(name: str, value: float, limit: float, detail: str, *, higher_ok: bool = False) -> Check:
    ok = value >= limit if higher_ok else value <= limit
    return Check(name, "pass" if ok else "fail", value, limit, detail)


def _sum(
    stats: dict[tuple[str, str], ServeStat], version: str, routes: tuple[str, ...]
) -> ServeStat:
    total = ServeStat(version, "+".join(routes), 0, 0, latency.empty())
    for route in routes:
        s = stats.get((version, route))
        if s is not None:
            total = ServeStat(
                version,
                total.route,
                total.requests + s.requests,
                total.errors + s.errors,
                latency.merge(total.latency, s.latency),
            )
    return total


def distribution(
    values: pd.Series, *, edges: np.ndarray | None, classes: list[Any] | None
) -> np.ndarray:
    """Counts of predictions on shared bins (numeric) or classes (categorical)."""
    if classes is not None:
        text = values.astype(str)
        return np.array([(text == c).sum() for c in classes], dtype=float)
    assert edges is not None
    counts, _ = np.histogram(values.astype(float).to_numpy(), bins=edges)
    return counts.astype(float)


def divergence(task: str, candidate: pd.DataFrame, stable: pd.DataFrame) -> tuple[float, float]:
    """(Jensen-Shannon distance, base 2, in [0, 1]; chi-square homogeneity p-value) of two
    prediction distributions on shared bins.

    The distance of two samples of one distribution is biased upwards at small sizes
    (about 0.2 for 60 rows each on 10 bins), so a breach needs both: a distance over the
    limit (the effect is large) and p < 0.01 (it is not sampling noise)."""
    from scipy.spatial.distance import jensenshannon

    from opsloop.monitor.stats import chi2_two_sample

    if task == "binary_classification" and candidate["score"].notna().any():
        column, edges, classes = "score", np.linspace(0.0, 1.0, 11), None
    elif task == "regression":
        column = "prediction"
        qs = np.quantile(stable[column].astype(float), np.linspace(0, 1, 11))
        edges = np.unique(np.concatenate([[-np.inf], qs[1:-1], [np.inf]]))
        classes = None
    else:
        column, edges = "prediction", None
        classes = sorted(set(candidate[column].astype(str)) | set(stable[column].astype(str)))
    p = distribution(candidate[column].dropna(), edges=edges, classes=classes)
    q = distribution(stable[column].dropna(), edges=edges, classes=classes)
    _, p_value = chi2_two_sample(q.astype(int).tolist(), p.astype(int).tolist())
    return float(jensenshannon(p / p.sum(), q / q.sum(), base=2)), p_value


def _performance(
    rt: Runtime, candidate: pd.DataFrame, stable: pd.DataFrame, cfg: AnalysisConfig
) -> Check:
    from opsloop.metrics import metric_value

    metric = rt.config.monitor.performance.metric
    margin = cfg.performance_margin
    lab_c, lab_s = candidate[candidate["label"].notna()], stable[stable["label"].notna()]
    if margin is None:
        return _pending("performance", None, "performance_margin is not set")
    if min(len(lab_c), len(lab_s)) < cfg.min_labels:
        return _pending(
            "performance",
            margin,
            f"{len(lab_c)} candidate / {len(lab_s)} stable "
            f"labelled rows; {cfg.min_labels} of each needed",
        )

    def value(frame: pd.DataFrame) -> float | None:
        score = frame["score"] if frame["score"].notna().all() else None
        return metric_value(rt.config.task, metric, frame["label"], frame["prediction"], score)

    c, s = value(lab_c), value(lab_s)
    if c is None or s is None:
        return _pending("performance", margin, f"{metric} is undefined on these labels")
    lower = metric in LOWER_IS_BETTER
    shortfall = (c - s) if lower else (s - c)
    return _judge(
        "performance",
        shortfall,
        margin,
        f"{metric}: candidate {c:.4f} vs stable {s:.4f} on {len(lab_c)}/{len(lab_s)} "
        "labels (shortfall vs margin)",
    )


def looks(bake: float, interval: float) -> int:
    """How often a step is tested while it bakes. Testing the growing sample at every look
    and failing at the first p < α would raise false rollbacks far above α (the peeking
    problem), so each look tests at α / looks (Bonferroni): over a whole step the chance of
    a false rollback stays at most α."""
    return max(1, math.ceil(bake / interval)) if interval > 0 else 1


def analyse(rt: Runtime, rollout: Rollout, now: datetime) -> Analysis:
    cfg = rt.config.deploy.analysis
    bake = float(rollout.settings.get("bake_seconds", rt.config.deploy.bake.total_seconds()))
    stats = rt.store.sum_serve_stats(rollout.model, rollout.step_started, rollout.env)
    baseline = rt.store.sum_serve_stats(rollout.model, rollout.started, rollout.env)
    cand = _sum(stats, rollout.candidate_version, CANDIDATE_ROUTES)
    stab = _sum(baseline, rollout.stable_version, ("stable",))
    checks: list[Check] = []
    enough = cand.requests >= cfg.min_requests
    need = f"{cand.requests} candidate requests; {cfg.min_requests} needed"

    if not enough:
        checks.append(_pending("error_rate", cfg.max_error_rate, need))
    else:
        checks.append(
            _judge(
                "error_rate",
                cand.errors / cand.requests,
                cfg.max_error_rate,
                f"{cand.errors} errors in {cand.requests} candidate requests",
            )
        )
    c99, s99 = latency.quantile(cand.latency, 0.99), latency.quantile(stab.latency, 0.99)
    timed = max(cfg.min_requests, cfg.latency_min_requests)
    need_timed = (
        f"{cand.requests} candidate / {stab.requests} stable requests; "
        f"{timed} of each needed for a p99"
    )
    if cfg.max_p99 is not None:
        limit = cfg.max_p99.total_seconds()
        checks.append(
            _judge("p99", c99, limit, "candidate p99 prediction latency (s)")
            if cand.requests >= timed and c99 is not None
            else _pending("p99", limit, need_timed)
        )
    if cfg.max_p99_ratio is not None:
        if min(cand.requests, stab.requests) >= timed and c99 and s99:
            checks.append(
                _judge(
                    "p99_ratio",
                    c99 / s99,
                    cfg.max_p99_ratio,
                    f"candidate p99 {c99 * 1e3:.2f} ms vs stable {s99 * 1e3:.2f} ms",
                )
            )
        else:
            checks.append(_pending("p99_ratio", cfg.max_p99_ratio, need_timed))

    # Same period only: inputs change over time, so comparing the candidate's answers with
    # stable's from another period would confound the models with the traffic. (At a
    # 100 % canary step stable answers nothing, so divergence waits; earlier steps judged it.)
    # the rows answered during the step, whatever their event times
    rows = rt.engine.read_window(
        rollout.model, rollout.step_started, now + timedelta(seconds=1), clock="answered"
    )
    if len(rows):
        version = rows["model_version"].astype(str)
        cand_rows = rows[
            (version == rollout.candidate_version) & rows["route"].isin(CANDIDATE_ROUTES)
        ]
        stab_rows = rows[(version == rollout.stable_version) & (rows["route"] == "stable")]
    else:
        cand_rows = stab_rows = rows
    if cfg.max_divergence is not None:
        if min(len(cand_rows), len(stab_rows)) >= cfg.min_requests:
            value, p_value = divergence(rt.config.task, cand_rows, stab_rows)
            alpha = DIVERGENCE_ALPHA / looks(bake, cfg.interval.total_seconds())
            checks.append(
                Check(
                    "divergence",
                    "fail" if value > cfg.max_divergence and p_value < alpha else "pass",
                    value,
                    cfg.max_divergence,
                    f"Jensen-Shannon distance of predictions over {len(cand_rows)} candidate / "
                    f"{len(stab_rows)} stable rows (chi-square p = {p_value:.2g}, "
                    f"significant below {alpha:.2g})",
                )
            )
        else:
            checks.append(
                _pending(
                    "divergence",
                    cfg.max_divergence,
                    f"{len(cand_rows)} candidate / {len(stab_rows)} stable "
                    f"logged predictions; {cfg.min_requests} of each needed",
                )
            )
    if len(rows):
        checks.append(_performance(rt, cand_rows, stab_rows, cfg))

    baked = (now - rollout.step_started).total_seconds()
    failed = [c for c in checks if c.status == "fail"]
    if failed:
        verdict = "fail"
        reasons = [
            f"{c.name} {c.value:.4g} over its limit {c.limit:g}: {c.detail}"
            for c in failed
            if c.value is not None and c.limit is not None
        ]
    elif baked >= bake and enough:
        verdict, reasons = (
            "pass",
            [
                f"baked {baked:.0f}s ≥ {bake:.0f}s with {cand.requests} "
                "candidate requests and no failed check"
            ],
        )
    else:
        verdict = "wait"
        reasons = [f"baking {baked:.0f}s of {bake:.0f}s" if baked < bake else need]
    return Analysis(
        verdict,
        checks,
        cand.requests,
        stab.requests,
        baked,
        bake,
        rollout.step_started.isoformat(),
        reasons,
    )
