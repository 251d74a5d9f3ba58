"""One monitoring run over a window: drift, data quality and (labelled rows) performance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from opsloop.config import LOWER_IS_BETTER, MonitorConfig, PerformanceConfig
from opsloop.core.profile import Profile
from opsloop.core.summaries import MonitorSummary
from opsloop.data.features import FeatureSpec
from opsloop.data.labels import LabelContract, usable_labels
from opsloop.metrics import compute_metrics
from opsloop.monitor.drift import DriftResult, Values, detect_drift
from opsloop.monitor.multivariate import MultivariateResult
from opsloop.monitor.quality import ColumnContract, Expectations, QualityReport, check_window
from opsloop.monitor.reference import ReferenceUsed
from opsloop.monitor.thresholds import LearnedThresholds

if TYPE_CHECKING:
    from opsloop.monitor.cbpe import CBPEReference


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
    estimated_performance: dict[str, Any] | None = None  # CBPE (no labels needed)
    calibration: dict[str, Any] | None = None  # classifiers, labelled rows
    quality: QualityReport | None = None
    multivariate: MultivariateResult | None = None
    multivariate_counts: bool = True  # drift.multivariate.counts_as_drift
    # the reference each feature (and the score) was judged against (monitor.reference)
    references: dict[str, ReferenceUsed] = field(default_factory=dict)
    multivariate_reference: ReferenceUsed | None = None  # what the band was centred on
    # stored labels of the window's rows that do not fit the target (skipped, noted)
    n_labels_unusable: int = 0

    @property
    def drift_detected(self) -> bool:
        """Univariate dataset drift, or the multivariate check's breach when it counts."""
        return self.drift.detected or (
            self.multivariate_counts and self.multivariate is not None and self.multivariate.drifted
        )

    def summary(self) -> MonitorSummary:
        """The window's summary, typed (`to_dict` is its JSON, as stored)."""
        return MonitorSummary.parse(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        out = {
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "n_rows": self.n_rows,
            "n_labelled": self.n_labelled,
            "n_labels_unusable": self.n_labels_unusable,
            "drift": self._drift_dict(),
            "drifted_features": self.drift.drifted_features,
            "performance": self.performance,
            "performance_metric": self.performance_metric,
            "performance_value": self.performance_value,
            "performance_floor": self.performance_floor,
            "performance_degraded": self.performance_degraded,
            "notes": self.notes,
            **(
                {}
                if self.estimated_performance is None
                else {"estimated_performance": self.estimated_performance}
            ),
            **({} if self.calibration is None else {"calibration": self.calibration}),
            **({} if self.multivariate is None else {"multivariate": self._multivariate_dict()}),
        }
        if self.quality is not None:
            out["quality"] = self.quality.to_dict()
        return out

    def _drift_dict(self) -> dict[str, Any]:
        """The drift result with each feature's `reference` (`ReferenceUsed`) in it."""
        out = self.drift.to_dict()
        for f in [*out["features"], out["prediction"]]:
            if f is not None and f["name"] in self.references:
                f["reference"] = self.references[f["name"]].to_dict()
        return out

    def _multivariate_dict(self) -> dict[str, Any]:
        assert self.multivariate is not None
        out = self.multivariate.to_dict()
        if self.multivariate_reference is not None:
            out["reference"] = self.multivariate_reference.to_dict()
        return out


def run_monitor(
    *,
    reference: Profile,
    current: Profile,
    labelled: pd.DataFrame,
    features: Sequence[FeatureSpec],
    task: str,
    cfg: MonitorConfig,
    window_start: datetime,
    window_end: datetime,
    cbpe: CBPEReference | None = None,
    scores: Any = None,
    values: Values | None = None,
    contract: Mapping[str, ColumnContract] | None = None,
    expectations: Expectations | None = None,
    learned: LearnedThresholds | None = None,
    multivariate: MultivariateResult | None = None,
    drift_reference: Profile | None = None,
    references: Mapping[str, ReferenceUsed] | None = None,
    label_contract: LabelContract | None = None,
) -> MonitorReport:
    """`current`: the window's profile on the reference's layout; `labelled`: the window's
    rows whose labels have arrived (prediction, score, label); `cbpe` and `scores` (the
    raw scores of all the window's rows): performance estimated without labels;
    `values`: raw window values for the exact KS; `contract`, `expectations`: the
    version's, for the quality checks; `learned`: its learned drift thresholds;
    `multivariate`: the window's PCA reconstruction result; `drift_reference`: what drift
    is judged against when not `reference` (each feature's choice of `monitor.reference`,
    on its layout: `opsloop.monitor.reference`) and `references`, which one per feature;
    `label_contract`: what a label of the version must be — stored labels that do not fit
    it are skipped and counted (`n_labels_unusable`), and a metric that still cannot be
    computed is noted, never raised: one bad label file must not stop monitoring."""
    notes: list[str] = []
    drift = detect_drift(
        drift_reference or reference, current, features, cfg.drift, values, learned=learned
    )
    quality = None
    if cfg.quality.enabled:
        quality = check_window(
            reference,
            current,
            features,
            cfg.quality,
            window_start=window_start,
            window_end=window_end,
            contract=contract,
            expectations=expectations,
        )
        if not quality.passed:
            notes.append(
                "data quality breached: "
                + ", ".join(
                    f"{c.check}{f' ({c.feature})' if c.feature else ''}" for c in quality.breaches
                )
            )
    if drift.tested == 0:
        notes.append(
            f"drift not judged (too few rows): no feature had {cfg.drift.min_rows} rows "
            "in the window"
        )
    if "label" in labelled.columns:
        arrived = labelled["label"].notna()
        if not arrived.all():  # (all arrived: the frame as it is, not a copy of it)
            labelled = labelled[arrived]
    else:
        labelled = labelled.iloc[:0]
    labelled, unusable = _usable(labelled, label_contract or LabelContract(task), notes)
    perf_cfg = cfg.performance
    performance: dict[str, float] = {}
    value = None
    degraded = False
    calibration = None
    if len(labelled) >= perf_cfg.min_labels:
        score = (
            labelled["score"].to_numpy(dtype=float)
            if "score" in labelled.columns and labelled["score"].notna().all()
            else None
        )
        try:
            performance = compute_metrics(
                task, labelled["label"].to_numpy(), labelled["prediction"].to_numpy(), score
            )
            calibration = _score_extras(task, labelled, score, performance, perf_cfg)
        except (TypeError, ValueError) as exc:  # labels the contract could not rule out
            performance, calibration = {}, None
            notes.append(
                f"performance not judged: the {len(labelled)} labels and the predictions "
                f"cannot be compared ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
            )
        value = performance.get(perf_cfg.metric)
        if value is not None and perf_cfg.floor is not None:
            lower = perf_cfg.metric in LOWER_IS_BETTER
            degraded = value > perf_cfg.floor if lower else value < perf_cfg.floor
    else:
        notes.append(
            f"{len(labelled)} labelled rows (< {perf_cfg.min_labels}): performance not judged"
        )
    return MonitorReport(
        window_start=window_start,
        window_end=window_end,
        n_rows=current.n_rows,
        n_labelled=len(labelled),
        drift=drift,
        performance=performance,
        performance_metric=perf_cfg.metric,
        performance_value=value,
        performance_floor=perf_cfg.floor,
        performance_degraded=degraded,
        notes=notes,
        estimated_performance=_estimated(cbpe, scores, cfg, notes),
        calibration=calibration,
        quality=quality,
        multivariate=multivariate,
        multivariate_counts=cfg.drift.multivariate.counts_as_drift,
        references=dict(references or {}),
        n_labels_unusable=unusable,
    )


def _usable(
    labelled: pd.DataFrame, contract: LabelContract, notes: list[str]
) -> tuple[pd.DataFrame, int]:
    """The labelled rows whose stored label fits the target, normalised; how many did not
    (noted with examples)."""
    if labelled.empty:
        return labelled, 0
    found = usable_labels(labelled["label"], contract)
    if found.unusable:
        notes.append(
            f"{found.unusable} stored labels skipped as unusable: not {contract.describe()} "
            f"(e.g. {', '.join(found.examples)}); correct or remove the label files stored "
            "before validation"
        )
    if (
        found.unusable == 0
        and labelled.index.is_unique
        and found.labels.index.equals(labelled.index)
    ):
        kept = labelled.assign(label=found.labels)  # every row: no `.loc` (~0.2 ms)
    else:
        kept = labelled.loc[found.labels.index].assign(label=found.labels)
    return kept, found.unusable


def _score_extras(
    task: str,
    labelled: pd.DataFrame,
    score: Any,
    performance: dict[str, float],
    cfg: PerformanceConfig,
) -> dict[str, Any] | None:
    """Binary classifiers: precision@k and NDCG@k into `performance`; the calibration."""
    if task != "binary_classification" or score is None:
        return None
    from opsloop.metrics import align_labels, positive_truth
    from opsloop.monitor.scores import score_extras

    truth = positive_truth(
        *align_labels(labelled["label"].to_numpy(), labelled["prediction"].to_numpy())
    )
    ranking, calibration = score_extras(truth, score, k=cfg.k, bins=cfg.calibration_bins)
    performance.update(ranking)
    return calibration


def _estimated(
    cbpe: CBPEReference | None, scores: Any, cfg: MonitorConfig, notes: list[str]
) -> dict[str, Any] | None:
    if cbpe is None or scores is None or not cfg.estimated_performance.enabled:
        return None
    from opsloop.monitor.cbpe import estimate_window

    result = estimate_window(cbpe, scores, cfg.estimated_performance)
    if result["value"] is None:
        notes.extend(result["reasons"])
    return result
