"""A backtest's typed result: per policy, what happened in each period of the replay."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

ALARM_KINDS = (
    "drift_detected",
    "quality_failed",
    "performance_degraded",
    "performance_estimated_degraded",
)


def duration_text(span: timedelta) -> str:
    """A duration as opsloop.yaml writes it: 2w, 3d, 6h, 15m or 90s."""
    seconds = int(span.total_seconds())
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Training:
    """One turn of the loop in the sandbox: as of `at` (the training window's end)."""

    at: datetime
    trigger: str
    version: str | None  # None when the training failed
    gate_passed: bool
    promoted: bool
    skipped: bool = False  # nothing changed since the champion: nothing registered
    failed: str | None = None  # the error of a failed training
    reasons: list[str] = field(default_factory=list)
    fit_seconds: float = 0.0  # the `fit` stage
    seconds: float = 0.0  # the whole turn: load … register, gate, promotion

    @property
    def rejected(self) -> bool:
        """Registered and refused by the gate."""
        return not self.skipped and self.failed is None and not self.gate_passed


@dataclass(frozen=True)
class Period:
    """One period of the replay: scored by `version`, monitored at its end."""

    start: datetime
    end: datetime
    version: str | None  # the champion that answered (None: no rows to answer)
    rows: int
    # the metric over all of the period's labels, the truth whatever the delay
    performance: float | None
    labels_delivered: int  # labels that arrived at the end of this period
    monitored: list[int] = field(default_factory=list)  # ids of the sandbox's results
    drift: bool | None = None  # the monitor's verdict on the period (None: not monitored)
    alarms: list[str] = field(default_factory=list)  # new alarm events (ALARM_KINDS)
    fired: list[str] = field(default_factory=list)  # the policy's triggers that fired
    training: Training | None = None  # the retrain they started
    scoring_seconds: float = 0.0


@dataclass(frozen=True)
class Compute:
    """What a policy cost: fitting (and the whole trainings), scoring."""

    trainings: int
    fit_seconds: float
    training_seconds: float
    scoring_seconds: float
    rows_scored: int


@dataclass(frozen=True)
class PolicyResult:
    policy: str
    initial: Training
    periods: list[Period]

    @property
    def retrains(self) -> list[Training]:
        """The trainings the policy started (skipped and failed ones included)."""
        return [p.training for p in self.periods if p.training is not None]

    @property
    def promotions(self) -> int:
        return sum(t.promoted for t in self.retrains)

    @property
    def rejections(self) -> int:
        return sum(t.rejected for t in self.retrains)

    @property
    def alarms(self) -> int:
        return sum(len(p.alarms) for p in self.periods)

    @property
    def mean_performance(self) -> float | None:
        values = [p.performance for p in self.periods if p.performance is not None]
        return sum(values) / len(values) if values else None

    @property
    def compute(self) -> Compute:
        trainings = [self.initial, *self.retrains]
        return Compute(
            trainings=len(trainings),
            fit_seconds=round(sum(t.fit_seconds for t in trainings), 3),
            training_seconds=round(sum(t.seconds for t in trainings), 3),
            scoring_seconds=round(sum(p.scoring_seconds for p in self.periods), 3),
            rows_scored=sum(p.rows for p in self.periods),
        )

    def summary(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "mean_performance": self.mean_performance,
            "retrains": len(self.retrains),
            "promotions": self.promotions,
            "rejections": self.rejections,
            "alarms": self.alarms,
            "compute": asdict(self.compute),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "initial": _training_json(self.initial),
            "periods": [
                {
                    **{k: v for k, v in asdict(p).items() if k != "training"},
                    "start": p.start.isoformat(),
                    "end": p.end.isoformat(),
                    "training": None if p.training is None else _training_json(p.training),
                }
                for p in self.periods
            ],
        }


def _training_json(t: Training) -> dict[str, Any]:
    return {**asdict(t), "at": t.at.isoformat(), "rejected": t.rejected}


@dataclass(frozen=True)
class BacktestResult:
    """Every policy replayed over the same periods of the project's history."""

    model: str
    metric: str
    floor: float | None
    start: datetime
    end: datetime
    every: timedelta
    label_delay: timedelta
    policies: list[PolicyResult]
    notes: list[str] = field(default_factory=list)

    def policy(self, name: str) -> PolicyResult:
        for p in self.policies:
            if p.policy == name:
                return p
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "metric": self.metric,
            "floor": self.floor,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "every": duration_text(self.every),
            "label_delay": duration_text(self.label_delay),
            "notes": self.notes,
            "policies": [p.to_dict() for p in self.policies],
        }
