"""Gate policy on the configured metric.

- `non_inferiority` (routine retrains): pass when the challenger is at most `margin` worse
  than the champion.
- `superiority`: pass when the challenger is at least `margin` better.
- `floor`: an absolute minimum (a maximum for lower-is-better metrics) every model must
  meet; the first model, with no champion to compare with, is judged on the floor alone.

Both models are scored on the same holdout rows, so the difference is paired. Confidence
intervals, McNemar/DeLong tests and slice checks are the subject of the promotion-gate
issue; this module keeps the decision rule small and explicit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opsloop.config import LOWER_IS_BETTER, GateConfig


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    metric: str
    challenger_value: float
    champion_value: float | None
    improvement: float | None  # positive = challenger better, in the metric's direction
    reasons: list[str] = field(default_factory=list)


def decide(cfg: GateConfig, challenger_value: float, champion_value: float | None) -> GateVerdict:
    lower = cfg.metric in LOWER_IS_BETTER
    sign = -1.0 if lower else 1.0
    reasons: list[str] = []
    passed = True
    if cfg.floor is not None:
        meets = challenger_value <= cfg.floor if lower else challenger_value >= cfg.floor
        op = "<=" if lower else ">="
        reasons.append(
            f"{cfg.metric}={challenger_value:.4f} {'meets' if meets else 'misses'} the floor "
            f"({op} {cfg.floor})"
        )
        passed &= meets
    improvement = None
    if champion_value is None:
        reasons.append("no champion yet: the first model is judged on the floor alone")
    else:
        improvement = sign * (challenger_value - champion_value)
        if cfg.policy == "superiority":
            ok = improvement >= cfg.margin
            rule = f"improvement {improvement:+.4f} {'>=' if ok else '<'} +{cfg.margin}"
        else:
            ok = improvement >= -cfg.margin
            rule = f"improvement {improvement:+.4f} {'>=' if ok else '<'} -{cfg.margin}"
        reasons.append(
            f"{cfg.policy}: challenger {challenger_value:.4f} vs champion "
            f"{champion_value:.4f}, {rule}"
        )
        passed &= ok
    return GateVerdict(passed, cfg.metric, challenger_value, champion_value, improvement, reasons)
