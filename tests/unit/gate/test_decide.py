from __future__ import annotations

import pytest

from opsloop.config import GateConfig
from opsloop.gate import decide


def test_first_model_judged_on_floor() -> None:
    assert decide(GateConfig(floor=0.7), 0.75, None).passed
    v = decide(GateConfig(floor=0.7), 0.65, None)
    assert not v.passed and "misses the floor" in v.reasons[0]
    assert decide(GateConfig(), 0.1, None).passed  # no floor, no champion


@pytest.mark.parametrize(
    ("policy", "margin", "challenger", "champion", "passed"),
    [
        ("non_inferiority", 0.01, 0.795, 0.80, True),
        ("non_inferiority", 0.01, 0.785, 0.80, False),
        ("superiority", 0.01, 0.815, 0.80, True),
        ("superiority", 0.01, 0.805, 0.80, False),
    ],
)
def test_policies(policy: str, margin: float, challenger: float, champion: float,
                  passed: bool) -> None:
    v = decide(GateConfig(policy=policy, margin=margin), challenger, champion)  # type: ignore[arg-type]
    assert v.passed is passed
    assert v.improvement == pytest.approx(challenger - champion)


def test_lower_is_better_metric() -> None:
    cfg = GateConfig(metric="log_loss", policy="superiority", margin=0.01, floor=0.6)
    v = decide(cfg, 0.40, 0.45)
    assert v.passed and v.improvement == pytest.approx(0.05)
    assert not decide(cfg, 0.70, 0.75).passed  # better than champion but misses the floor
