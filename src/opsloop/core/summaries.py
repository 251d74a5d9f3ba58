"""The monitor summary as typed, frozen models: what one monitoring window produced.

A summary is stored as JSON (`monitor_results.summary`, and its `digest`, a summary without
the per-window details) and returned as such by the API and `--json`. These models read
that JSON: every field is optional, because digests and the summaries written by older
opsloops lack keys, and unknown keys are kept (``extra="allow"``). `to_json()` gives back
exactly the keys that were read or set (``exclude_unset``), so a stored summary round-trips
to the same JSON; numbers keep their type (`Num`: an int stays an int).

Keys (docs/monitoring.md): ``window_start``, ``window_end``, ``n_rows``, ``n_labelled``,
``n_labels_unusable``,
``drift`` (`DriftSummary`), ``drifted_features``, ``performance`` (metric → value),
``performance_metric``, ``performance_value``, ``performance_floor``,
``performance_degraded``, ``notes``, ``estimated_performance`` (`EstimatedPerformance`),
``calibration`` (`Calibration`), ``multivariate`` (`MultivariateSummary`), ``quality``
(`QualitySummary`), ``previous`` (`PreviousComparison`).
"""

from __future__ import annotations

from typing import Any, Literal

from opsloop.core._base import Model, Num

__all__ = [
    "NOT_JUDGED",
    "VERDICTS",
    "Calibration",
    "CalibrationBin",
    "DriftStatus",
    "DriftSummary",
    "EstimatedPerformance",
    "FeatureChange",
    "FeatureDriftSummary",
    "FeatureVerdict",
    "FlagChange",
    "MonitorSummary",
    "MultivariateSummary",
    "Num",
    "PerformanceChange",
    "PreviousComparison",
    "QualityChange",
    "QualityCheckSummary",
    "QualitySummary",
    "ReferenceSummary",
    "ValueChange",
    "drift_verdict",
    "feature_verdict",
]


# --- drift ------------------------------------------------------------------------------

# What a user reads for a window, or a feature, that had too few rows to be judged (status
# `insufficient_data`): not "no drift", which would claim a verdict.
NOT_JUDGED = "not judged (too few rows)"


def drift_verdict(detected: bool | None, judged: bool) -> str:
    """A window's (or a feature's) drift in words: `drift`, `no drift` or `NOT_JUDGED`."""
    if not judged:
        return NOT_JUDGED
    return "drift" if detected else "no drift"


class ReferenceSummary(Model):
    """What one feature's drift was judged against (monitor.reference.ReferenceUsed):
    `kind` the reference used (`training`, `rolling`, `cycle`), `requested` as configured
    (`monitor.reference`, e.g. ``cycle:7d``), its span and the feature's rows in it;
    `fallback` when a rolling or cycle period had too few logged rows (then `kind` is
    `training` and `reason` says why)."""

    kind: str | None = None
    requested: str | None = None
    start: str | None = None
    end: str | None = None
    rows: int | None = None
    fallback: bool | None = None
    reason: str | None = None

    @property
    def label(self) -> str:
        """In words: ``cycle 2025-06-01 → 2025-06-08 (2,016 rows)``, ``training``, or
        ``training (fallback from cycle:7d: 12 rows)``."""
        span = ""
        if self.start and self.end:
            span = f" {self.start[:16].replace('T', ' ')} → {self.end[:16].replace('T', ' ')}"
        rows = "" if self.rows is None else f" ({self.rows:,} rows)"
        if self.fallback:
            return f"{self.kind or 'training'} (fallback from {self.requested}){rows}"
        if self.kind == "training":
            return f"training{rows}"
        return f"{self.kind}{span}{rows}"


# A feature's drift status: `drifted` only for a material change (detectable and at least
# its effect-size floor); `immaterial` a detectable change below the floor.
DriftStatus = Literal["ok", "drifted", "immaterial", "insufficient_data"]

# The same in words (`FeatureDrift.verdict`): `not judged` is a window too small for the
# feature (shown as `NOT_JUDGED`).
FeatureVerdict = Literal["drift", "immaterial", "no drift", "not judged"]
VERDICTS: tuple[FeatureVerdict, ...] = ("drift", "immaterial", "no drift", "not judged")

_BY_STATUS: dict[str, FeatureVerdict] = {
    "drifted": "drift",
    "immaterial": "immaterial",
    "ok": "no drift",
    "insufficient_data": "not judged",
}


def feature_verdict(status: str | None, drifted: bool | None = None) -> FeatureVerdict:
    """A feature's verdict from its status (summaries stored before the verdict existed
    have a status and `drifted` only; their drift was detectable, materiality unknown)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return "drift" if drifted else "no drift"


class FeatureDriftSummary(Model):
    """One feature's drift verdict (monitor.drift.FeatureDrift)."""

    name: str | None = None
    kind: str | None = None
    test: str | None = None  # the method that gave the verdict (auto resolved)
    statistic: Num | None = None
    p_value: Num | None = None
    psi: Num | None = None
    drifted: bool | None = None  # material drift only (status `drifted`)
    status: str | None = None  # DriftStatus: ok | drifted | immaterial | insufficient_data
    verdict: str | None = None  # FeatureVerdict (absent before materiality: see `outcome`)
    effect: str | None = None  # the distance the effect size is measured with
    effect_size: Num | None = None
    floor: Num | None = None  # the effect size's materiality floor
    n: int | None = None
    missing_rate_reference: Num | None = None
    missing_rate_current: Num | None = None
    unseen: int | None = None
    threshold: Num | None = None
    threshold_source: str | None = None  # fixed | learned
    pooled: bool | None = None  # reference categories beyond the top 1,000 share one bin
    distances: dict[str, Num | None] | None = None
    reference_counts: list[int] | None = None
    current_counts: list[int] | None = None
    reference: ReferenceSummary | None = None  # absent in summaries before monitor.reference

    @property
    def judged(self) -> bool:
        return self.status != "insufficient_data"

    @property
    def outcome(self) -> FeatureVerdict:
        """The stored verdict, else the one its status implies (older summaries)."""
        stored = next((v for v in VERDICTS if v == self.verdict), None)
        return stored or feature_verdict(self.status, self.drifted)


class DriftSummary(Model):
    """The ``drift`` key (monitor.drift.DriftResult)."""

    features: list[FeatureDriftSummary] = []
    share: Num | None = None
    detected: bool | None = None
    tested: int | None = None
    drifted_features: list[str] | None = None
    immaterial_features: list[str] | None = None  # detectable, below their floors
    prediction: FeatureDriftSummary | None = None

    @property
    def judged(self) -> bool:
        """Whether at least one feature had enough rows to be judged (a summary without
        ``tested`` counts its judged features)."""
        if self.tested is not None:
            return self.tested > 0
        return not self.features or any(f.judged for f in self.features)


# --- performance ------------------------------------------------------------------------


class EstimatedPerformance(Model):
    """The ``estimated_performance`` key: CBPE's estimate without labels (monitor.cbpe)."""

    method: str | None = None
    metric: str | None = None
    value: Num | None = None
    lower: Num | None = None
    upper: Num | None = None
    degraded: bool | None = None
    metrics: dict[str, Num | None] | None = None
    n: int | None = None
    floor: Num | None = None
    calibrated: bool | None = None
    reasons: list[str] = []


class CalibrationBin(Model):
    lower: Num | None = None
    upper: Num | None = None
    n: int | None = None
    mean_score: Num | None = None
    positive_rate: Num | None = None


class Calibration(Model):
    """The ``calibration`` key: a binary classifier's scores on the labelled rows."""

    ece: Num | None = None
    brier: Num | None = None
    n: int | None = None
    bins: list[CalibrationBin] = []


class MultivariateSummary(Model):
    """The ``multivariate`` key: PCA reconstruction error against its band."""

    method: str | None = None
    value: Num | None = None
    lower: Num | None = None
    upper: Num | None = None
    drifted: bool | None = None
    n: int | None = None
    components: int | None = None
    reference: ReferenceSummary | None = None  # the band's centre (monitor.reference)


# --- quality ----------------------------------------------------------------------------


class QualityCheckSummary(Model):
    check: str | None = None
    feature: str | None = None
    status: str | None = None  # ok | breach | insufficient_data
    value: Num | None = None
    expected: str | None = None
    detail: str | None = None

    @property
    def label(self) -> str:
        """``check (feature)``, or the check alone for a window-wide one."""
        return f"{self.check}{f' ({self.feature})' if self.feature else ''}"


class QualitySummary(Model):
    """The ``quality`` key (monitor.quality.QualityReport)."""

    passed: bool | None = None
    checks: list[QualityCheckSummary] = []

    @property
    def breaches(self) -> list[QualityCheckSummary]:
        return [c for c in self.checks if c.status == "breach"]


# --- the previous window ----------------------------------------------------------------


class ValueChange(Model):
    """A value, the previous window's, and the change (null unless both are numbers)."""

    value: Any = None
    previous: Any = None
    change: Num | None = None


class FlagChange(Model):
    value: bool | None = None
    previous: bool | None = None


class FeatureChange(Model):
    name: str | None = None
    test: str | None = None
    previous_test: str | None = None
    statistic: Num | None = None
    previous_statistic: Num | None = None
    change: Num | None = None
    drifted: bool | None = None
    previously_drifted: bool | None = None


class PerformanceChange(ValueChange):
    metric: str | None = None
    n_labelled: int | None = None
    previous_n_labelled: int | None = None
    degraded: bool | None = None
    previously_degraded: bool | None = None


class QualityChange(Model):
    passed: bool | None = None
    previously_passed: bool | None = None
    new_breaches: list[str] = []


class PreviousComparison(Model):
    """The ``previous`` key: this window against the previous one (monitor.previous)."""

    id: int | None = None
    version: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    n_rows: ValueChange | None = None
    drift_share: ValueChange | None = None
    drift_detected: FlagChange | None = None
    newly_drifted: list[str] = []
    recovered: list[str] = []
    features: list[FeatureChange] = []
    performance: PerformanceChange | None = None
    estimated_performance: ValueChange | None = None
    multivariate: ValueChange | None = None
    quality: QualityChange | None = None


# --- the summary ------------------------------------------------------------------------


class MonitorSummary(Model):
    """One monitored window's summary (or its digest). Fields in the order the monitor
    writes them, so a summary built here dumps to the same JSON text."""

    window_start: str | None = None
    window_end: str | None = None
    n_rows: int | None = None
    n_labelled: int | None = None
    n_labels_unusable: int | None = None  # stored labels that did not fit the target
    drift: DriftSummary | None = None
    drifted_features: list[str] = []
    performance: dict[str, Num | None] = {}
    performance_metric: str | None = None
    performance_value: Num | None = None
    performance_floor: Num | None = None
    performance_degraded: bool | None = None
    notes: list[str] = []
    estimated_performance: EstimatedPerformance | None = None
    calibration: Calibration | None = None
    multivariate: MultivariateSummary | None = None
    quality: QualitySummary | None = None
    previous: PreviousComparison | None = None

    @property
    def features(self) -> list[FeatureDriftSummary]:
        """The per-feature drift verdicts (none in a summary without ``drift``)."""
        return [] if self.drift is None else self.drift.features

    @property
    def drift_judged(self) -> bool:
        """False when no feature of the window could be judged (too few rows)."""
        return self.drift is None or self.drift.judged

    @property
    def newly_drifted(self) -> list[str]:
        """Features drifted in this window but not in the previous one (none without it)."""
        return [] if self.previous is None else self.previous.newly_drifted

    @property
    def recovered(self) -> list[str]:
        return [] if self.previous is None else self.previous.recovered
