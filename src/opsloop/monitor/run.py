"""One monitoring run over a window: drift, data quality and (labelled rows) performance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from opsloop.config import LOWER_IS_BETTER, MonitorConfig
from opsloop.data.features import FeatureSpec
from opsloop.metrics import compute_metrics
from opsloop.monitor.drift import DriftResult, detect_drift
from opsloop.monitor.multivariate import MultivariateResult
from opsloop.monitor.profile import Profile
from opsloop.monitor.thresholds import LearnedThresholds


@dataclass
class MonitorReport:
    window_start: datetime
    window_end: datetime
    n_rows: int
    n_labelled: int
    drift: DriftResult
    performance: dict[str, float]
    performance_metric: str
    performance_value: float | None
    performance_floor: float | None
    performance_degraded: bool
    notes: list[str] = field(default_factory=list)
    multivariate: MultivariateResult | None = None
    multivariate_counts: bool = True  # drift.multivariate.counts_as_drift

    @property
    def drift_detected(self) -> bool:
        """Univariate dataset drift, or the multivariate check's breach when it counts."""
        return self.drift.detected or (self.multivariate_counts and self.multivariate
                                       is not None and self.multivariate.drifted)

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "n_rows": self.n_rows, "n_labelled": self.n_labelled,
            "drift": self.drift.to_dict(), "drifted_features": self.drift.drifted_features,
            "performance": self.performance, "performance_metric": self.performance_metric,
            "performance_value": self.performance_value,
            "performance_floor": self.performance_floor,
            "performance_degraded": self.performance_degraded, "notes": self.notes,
            **({} if self.multivariate is None
               else {"multivariate": self.multivariate.to_dict()}),
        }


def run_monitor(*, reference: Profile, current: Profile, labelled: pd.DataFrame,
                features: Sequence[FeatureSpec], task: str, cfg: MonitorConfig,
                window_start: datetime, window_end: datetime,
                learned: LearnedThresholds | None = None,
                multivariate: MultivariateResult | None = None) -> MonitorReport:
    """`current`: the window's profile on the reference's layout; `labelled`: the window's
    rows whose labels have arrived (prediction, score, label)."""
    notes: list[str] = []
    drift = detect_drift(reference, current, features, cfg.drift, learned)
    if drift.tested == 0:
        notes.append(f"no feature had {cfg.drift.min_rows} rows in the window: drift not judged")
    if "label" in labelled.columns:
        labelled = labelled[labelled["label"].notna()]
    else:
        labelled = labelled.iloc[:0]
    perf_cfg = cfg.performance
    performance: dict[str, float] = {}
    value = None
    degraded = False
    if len(labelled) >= perf_cfg.min_labels:
        score = labelled["score"].to_numpy(dtype=float) if "score" in labelled.columns and \
            labelled["score"].notna().all() else None
        performance = compute_metrics(task, labelled["label"].to_numpy(),
                                      labelled["prediction"].to_numpy(), score)
        value = performance.get(perf_cfg.metric)
        if value is not None and perf_cfg.floor is not None:
            lower = perf_cfg.metric in LOWER_IS_BETTER
            degraded = value > perf_cfg.floor if lower else value < perf_cfg.floor
    else:
        notes.append(f"{len(labelled)} labelled rows (< {perf_cfg.min_labels}): "
                     "performance not judged")
    return MonitorReport(
        window_start=window_start, window_end=window_end, n_rows=current.n_rows,
        n_labelled=len(labelled), drift=drift, performance=performance,
        performance_metric=perf_cfg.metric, performance_value=value,
        performance_floor=perf_cfg.floor, performance_degraded=degraded, notes=notes,
        multivariate=multivariate, multivariate_counts=cfg.drift.multivariate.counts_as_drift,
    )
