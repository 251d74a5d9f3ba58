"""Shared pieces of the configuration models: durations, cron checks, task metrics and
the strict base model (unknown keys are errors, models are frozen)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

CONFIG_FILE = "opsloop.yaml"

Task = Literal["binary_classification", "multiclass_classification", "regression", "ranking"]

# Metrics per task; "higher is better" unless listed in LOWER_IS_BETTER.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": ("roc_auc", "accuracy", "f1", "precision", "recall", "log_loss"),
    "multiclass_classification": ("accuracy", "f1_macro", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
    # Ranking metrics are means over users at the configured k (opsloop.ranking.metrics);
    # cold_start_ndcg_at_k is NDCG@k over users with no interaction before the cut-off.
    "ranking": (
        "ndcg_at_k",
        "precision_at_k",
        "recall_at_k",
        "map_at_k",
        "coverage",
        "novelty",
        "popularity_bias",
        "cold_start_ndcg_at_k",
    ),
}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "popularity_bias"})

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {
    "ms": "milliseconds",
    "s": "seconds",
    "m": "minutes",
    "h": "hours",
    "d": "days",
    "w": "weeks",
}


def parse_duration(value: object) -> timedelta:
    """Parse ``"2ms"``, ``"90s"``, ``"15m"``, ``"1h"``, ``"30d"``, ``"2w"`` (or seconds as a
    number)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    raise ValueError(
        f"expected a duration such as '2ms', '90s', '15m', '1h', '30d' or '2w', got {value!r}"
    )


def format_duration(value: timedelta) -> str:
    """Text that `parse_duration` reads back as `value`."""
    micros = value // timedelta(microseconds=1)
    if micros % 1000:
        return f"{micros / 1_000_000:.6f}".rstrip("0") + "s"
    if micros % 1_000_000:
        return f"{micros // 1000}ms"
    seconds = micros // 1_000_000
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_cron(value: str) -> str:
    from croniter import croniter  # small, but only needed when a schedule is given

    if not croniter.is_valid(value):
        raise ValueError(
            f"expected a 5-field cron expression such as '*/15 * * * *', got {value!r}"
        )
    return value
