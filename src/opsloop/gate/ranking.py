"""The promotion gate for `task: ranking`: challenger vs champion on the same users.

Both models' top-k lists are scored against the same relevant items (visits after the
cut-off) with `opsloop.ranking.metrics`, giving one value per **user** for every metric.
The user is the unit of resampling: the paired bootstrap (`gate.stats.paired_bootstrap`)
draws multinomial weights over users, shared by both models, and recomputes each metric as
the weighted mean over the users that have a value (a ratio estimator, so a resample that
happens to drop users with no relevant item is handled exactly). The rules, slices and
report rows are those of `gate.evaluate` (`rule_row`, `judge_slices`), so the report, its
rendering and the stored evidence are unchanged:

1. **metrics** — for each rule, the CI's lower bound of the improvement above −δ
   (non_inferiority) or +δ (superiority), and the floor on the point value.
   precision@k, recall@k, NDCG@k, MAP@k, novelty, popularity_bias (lower is better) and
   cold-start NDCG@k are means over users and are bootstrapped. **coverage** is a property
   of the whole set of lists, not a mean over users: resampling users understates it
   (each resample leaves out ~37% of them), so it is compared on the point value —
   ``method: point``, the interval collapsed to the observed difference, decided by the same
   policy and floor.
2. **slices** — per-user masks (a column or query of a per-user frame, as `gate.slices`, and
   new vs returning users when a cold-start mask is given): the one-sided p-value of
   "regressed by more than the slice's margin", Holm-corrected across slices.
3. **regression set** — users whose recommendations must not collapse
   (`gate.ranking_regression`: per user, a list not shorter than the champion's and
   optionally a minimum overlap with it; as a group, NDCG@k not significantly worse by more
   than a tolerance).

The first model (no champion) is judged on floors and on its lists not being empty for the
regression set's users.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.config.ranking import HISTORY_SLICE
from opsloop.errors import DataValidationError
from opsloop.gate.evaluate import GateReport, compared, judge_slices, rule_row, slice_masks
from opsloop.gate.ranking_regression import RegressionUsers, evaluate_ranking_regression
from opsloop.gate.ranking_stats import compare_ranking
from opsloop.ranking.metrics import PerUser, metric_value

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from opsloop.config import GateConfig, MetricRule


@dataclass(frozen=True)
class Ranked:
    """One model's top-k lists on the evaluation users, scored per user."""

    version: str
    per_user: PerUser


@dataclass(frozen=True)
class UserSlice:
    """A segment of the evaluation users (``mask`` aligned with them)."""

    name: str
    mask: np.ndarray
    margin: float
    min_rows: int = 100


# ---- one metric ------------------------------------------------------------------------
def evaluate_ranking_rule(
    rule: MetricRule,
    a: PerUser,
    k: PerUser | None,
    *,
    cold_start: np.ndarray | None = None,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The verdict on one rule, as the report row `gate.evaluate.evaluate_rule` gives."""
    if k is None:
        value = metric_value(rule.metric, a, cold_start=cold_start)
        if value is None:
            raise DataValidationError(
                f"the gate metric {rule.metric!r} could not be computed on the evaluation "
                "users (no user qualifies)",
                fix="check that visits after the cut-off reach the evaluated users (and "
                "cold-start users, for cold_start_ndcg_at_k), or choose another gate metric",
            )
        return rule_row(rule, None, value, confidence=confidence)
    try:
        comp = compare_ranking(
            rule.metric,
            a,
            k,
            cold_start=cold_start,
            confidence=confidence,
            resamples=resamples,
            seed=seed,
        )
    except ValueError as exc:
        raise DataValidationError(
            f"the gate metric {rule.metric!r} could not be compared on the evaluation users: {exc}",
            fix="check that visits after the cut-off reach the evaluated users, or choose "
            "another gate metric",
        ) from None
    return rule_row(rule, comp, comp.challenger, confidence=confidence)


# ---- slices ----------------------------------------------------------------------------
def user_slices(gate: GateConfig, users: pd.DataFrame | None) -> list[UserSlice]:
    """The configured `gate.slices` over a per-user frame (rows aligned with the users)."""
    if not gate.slices:
        return []
    if users is None:
        raise DataValidationError(
            "gate.slices are configured but no per-user frame was given to slice the users",
            fix="pass the users' features (one row per evaluated user) to the ranking gate",
        )
    margin = gate.primary.margin
    return [
        UserSlice(label, mask, margin if spec.margin is None else spec.margin, spec.min_rows)
        for spec in gate.slices
        for label, mask in slice_masks(spec, users)
    ]


def new_vs_returning(cold_start: np.ndarray, margin: float, min_rows: int = 100) -> list[UserSlice]:
    """Two slices: users new since the cut-off and those seen before it."""
    cold = np.asarray(cold_start, dtype=bool)
    return [
        UserSlice("user=new", cold, margin, min_rows),
        UserSlice("user=returning", ~cold, margin, min_rows),
    ]


def evaluate_ranking_slices(
    rule: MetricRule,
    slices: Sequence[UserSlice],
    a: PerUser,
    k: PerUser | None,
    *,
    cold_start: np.ndarray | None = None,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], list[str], bool]:
    """Each slice's regression test on ``rule.metric``, Holm-corrected: (rows, reasons, ok).

    A slice's ``rows`` are its users with a value of the metric (for coverage: its users);
    slices with fewer than ``min_rows`` are reported, not tested."""
    alpha = (1 - confidence) / 2
    rows: list[dict[str, Any]] = []
    tested: list[int] = []
    for spec in slices:
        mask = np.asarray(spec.mask, dtype=bool)
        cold = None if cold_start is None else np.asarray(cold_start, dtype=bool)[mask]
        sub_a = a.subset(mask)
        counted = (
            int(mask.sum())
            if rule.metric == "coverage"
            else int((~np.isnan(sub_a.values(rule.metric, cold))).sum())
        )
        row: dict[str, Any] = {
            "slice": spec.name,
            "rows": counted,
            "users": int(mask.sum()),
            "metric": rule.metric,
            "margin": spec.margin,
            "status": "ok",
            "challenger": metric_value(rule.metric, sub_a, cold_start=cold),
        }
        rows.append(row)
        if counted < spec.min_rows:
            row.update(status="skipped", note=f"{counted} users < min_rows {spec.min_rows}")
            continue
        if k is None:
            row["note"] = "no champion to compare with"
            continue
        try:
            comp = compare_ranking(
                rule.metric,
                sub_a,
                k.subset(mask),
                cold_start=cold,
                confidence=confidence,
                resamples=resamples,
                seed=seed,
            )
        except ValueError as exc:
            row.update(status="skipped", note=f"not computable: {exc}")
            continue
        row.update(compared(comp, spec.margin))
        tested.append(len(rows) - 1)
    reasons, ok = judge_slices(rows, tested, rule.metric, alpha, has_champion=k is not None)
    return rows, reasons, ok


# ---- the whole gate --------------------------------------------------------------------
def run_ranking_gate(
    model: str,
    gate: GateConfig,
    challenger: Ranked,
    champion: Ranked | None,
    *,
    cold_start: np.ndarray | None = None,
    users: pd.DataFrame | None = None,
    regression: RegressionUsers | None = None,
    window: str | None = None,
    holdout_start: str | None = None,
    holdout_end: str | None = None,
) -> GateReport:
    """The gate report of a ranking challenger: rules, slices, regression set.

    ``challenger`` and ``champion`` are scored on the same users in the same order;
    ``cold_start`` marks the users new since the cut-off (cold_start_ndcg_at_k and the
    new/returning slices); ``users`` is a per-user frame aligned with them for
    `gate.slices`. ``holdout_rows`` counts the users with a relevant item.
    """
    a = challenger.per_user
    k = None if champion is None else champion.per_user
    if k is not None and (len(k) != len(a) or k.k != a.k or not np.array_equal(k.users, a.users)):
        raise DataValidationError(
            "the challenger and the champion must be scored on the same users in the same "
            "order and at the same k",
            got=f"{len(a)} users at k={a.k} vs {len(k)} users at k={k.k}",
            fix="score both models' top-k lists for one array of users",
        )
    if cold_start is not None:
        cold_start = np.asarray(cold_start)
        if cold_start.dtype != bool or cold_start.shape != (len(a),):
            raise DataValidationError(
                "the cold-start mask must hold one boolean per evaluated user",
                got=f"dtype {cold_start.dtype}, shape {cold_start.shape} for {len(a)} users",
                fix="mark the users with no interaction before the cut-off, in the users' order",
            )
    if users is not None and len(users) != len(a):
        raise DataValidationError(
            "the per-user frame must have one row per evaluated user, in their order",
            got=f"{len(users)} rows for {len(a)} users",
            fix="align the users' features with the users the models were scored on",
        )
    options: dict[str, Any] = {
        "confidence": gate.confidence,
        "resamples": gate.resamples,
        "seed": gate.seed,
    }
    reasons: list[str] = []
    passed = True
    metric_rows = []
    for rule in gate.metrics:
        row = evaluate_ranking_rule(rule, a, k, cold_start=cold_start, **options)
        metric_rows.append(row)
        reasons.extend(row["reasons"])
        passed &= row["passed"]
    slices = user_slices(gate, users)
    if cold_start is not None and not any(s.column == HISTORY_SLICE for s in gate.slices):
        # new vs returning users, unless `gate.slices` names them (with its own settings)
        slices += new_vs_returning(cold_start, gate.primary.margin)
    slice_rows, slice_reasons, ok = evaluate_ranking_slices(
        gate.primary, slices, a, k, cold_start=cold_start, **options
    )
    reasons.extend(slice_reasons)
    passed &= ok
    regression_row = None
    if regression is not None:
        regression_row, reason, ok = evaluate_ranking_regression(regression, a, k, **options)
        reasons.append(reason)
        passed &= ok
    evaluated = int((a.n_relevant > 0).sum())
    warnings = []
    if evaluated < gate.holdout_min_rows:
        warnings.append(
            f"holdout too small: {evaluated} users with a relevant item < "
            f"gate.holdout_min_rows {gate.holdout_min_rows}; the gate's verdict means little "
            "— evaluate on a longer period after the cut-off"
        )
    return GateReport(
        model=model,
        version=challenger.version,
        champion_version=None if champion is None else champion.version,
        passed=passed,
        reasons=list(dict.fromkeys(reasons)),
        holdout_rows=evaluated,
        confidence=gate.confidence,
        metrics=metric_rows,
        slices=slice_rows,
        regression_set=regression_row,
        budgets={},
        window=window,
        holdout_start=holdout_start,
        holdout_end=holdout_end,
        warnings=warnings,
    )
