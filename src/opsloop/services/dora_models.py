"""The typed result of the DORA metrics (`services.dora.build_dora`): what `opsloop dora
--json`, `GET /api/dora` and the dashboard show. `to_json()` is the stable JSON documented in
docs/dora.md: add fields, never rename or remove them. Durations are seconds; times are ISO
8601 in UTC."""

from __future__ import annotations

from opsloop.services.view_models import View

__all__ = [
    "DEFINITIONS",
    "ChangeItem",
    "DoraDefinitions",
    "DoraFigures",
    "DoraView",
    "IncidentItem",
    "ModelDora",
    "PromotionItem",
    "Spread",
]


class DoraDefinitions(View):
    """How each figure is computed, in words (shown next to the figures)."""

    deployment_frequency: str
    lead_time_data: str
    lead_time_trigger: str
    change_failure_rate: str
    time_to_restore: str


DEFINITIONS = DoraDefinitions(
    deployment_frequency="Promotions in the period (a version became the stable one: a "
    "blue-green switch, or a canary/shadow rollout that passed its last step) per day and "
    "per week. Rollbacks are not promotions.",
    lead_time_data="For each promotion in the period: the promotion's time minus the "
    "training data's cut-off of the promoted version (the newest event time in its "
    "training data, else its training window's end, from its `trained` event). Median and "
    "90th percentile (linear interpolation).",
    lead_time_trigger="For each promotion in the period whose version was trained by a "
    "trigger (drift, performance, schedule, new data, labels, a retraining request): the "
    "promotion's time minus the time the trigger fired. Median and 90th percentile.",
    change_failure_rate="Failed changes over changes started in the period. A change is a "
    "new version put in front of production traffic: a blue-green promotion, or a "
    "canary/shadow rollout (one change however it ends). It failed if it was rolled back "
    "(the rollout, or later the promoted version itself) or its rollout was aborted; a "
    "rollout superseded by a newer version did not fail. A failed gate is not a change: "
    "the version never reached production (counted apart as gate_failures).",
    time_to_restore="For each incident that began in the period: from its start to the "
    "first moment a healthy version served again. An incident begins at a breach of the "
    "serving version (drift_detected, performance_degraded, "
    "performance_estimated_degraded, quality_failed) and ends at the next promotion or "
    "rollback of the deployment; or at a failed change (from the blue-green promotion, or "
    "the rollout's start, to its rollback or abort). Breaches and failed changes that "
    "begin while an incident is open belong to it. Median (and 90th percentile) over the "
    "restored incidents; incidents still open at the period's end are counted apart.",
)


class Spread(View):
    """A duration's distribution over the items that have it (seconds)."""

    count: int
    median: float | None
    p90: float | None


class PromotionItem(View):
    """One promotion in the period, with its lead times (null when not known)."""

    ts: str
    version: str | None
    strategy: str | None
    data_cutoff: str | None
    lead_time_data: float | None
    trigger: str | None
    trigger_fired: str | None
    lead_time_trigger: float | None


class ChangeItem(View):
    """A version put in front of production traffic in the period, and what became of it."""

    ts: str
    version: str | None
    strategy: str
    rollout: int | None
    outcome: str  # promoted | rolled_back | aborted | superseded | running | serving
    failed: bool
    ended: str | None


class IncidentItem(View):
    """A breach (or failed change) and when a healthy version served again."""

    start: str
    cause: str  # an event kind, or failed_promotion / failed_rollout
    version: str | None
    restored: str | None
    restored_by: str | None  # promoted | rolled_back | rollout_aborted
    duration: float | None


class DoraFigures(View):
    promotions: int
    per_day: float
    per_week: float
    lead_time_data: Spread
    lead_time_trigger: Spread
    changes: int
    failed_changes: int
    change_failure_rate: float | None
    incidents: int
    open_incidents: int
    time_to_restore: Spread
    gate_failures: int


class ModelDora(View):
    model: str
    figures: DoraFigures
    promotions: list[PromotionItem]
    changes: list[ChangeItem]
    incidents: list[IncidentItem]
    truncated: bool  # a read hit its bound: the period's oldest deployment events are missing


class DoraView(View):
    since: str
    until: str
    days: float
    definitions: DoraDefinitions
    overall: DoraFigures
    models: list[ModelDora]
