"""Retraining policies a backtest compares: what may start a retrain at the end of a period.

A policy is one or more triggers joined by `+` (e.g. `drift+performance`, what
`retrain.on` lists):

- `never` — the first version answers the whole replay;
- `schedule:<duration>` — retrain once that long has passed since the last training
  (a multiple of the period is exact; shorter than the period is refused);
- `schedule` — `retrain.schedule`'s cron: retrain when a cron time has passed since the
  last training;
- `drift`, `performance`, `estimated_performance`, `quality` — the monitor's breach of the
  period, as the agent reads it for `retrain.on` (`orchestrate.agent.monitor_breaches`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from opsloop.backtest.result import duration_text
from opsloop.config import ProjectConfig, parse_duration
from opsloop.errors import InvalidInputError

MONITOR_TRIGGERS = ("drift", "performance", "estimated_performance", "quality")
KNOWN = ("never", "schedule:<duration>", "schedule", *MONITOR_TRIGGERS)


@dataclass(frozen=True)
class Policy:
    """A named retraining policy: its monitor triggers and schedule."""

    name: str
    monitor: tuple[str, ...] = ()  # breaches that fire (drift, performance, ...)
    interval: timedelta | None = None  # schedule:<duration>
    cron: str | None = None  # schedule (retrain.schedule)

    @property
    def never(self) -> bool:
        return not self.monitor and self.interval is None and self.cron is None


def parse_policy(text: str, *, every: timedelta, config: ProjectConfig) -> Policy:
    """One `--policy` value; InvalidInputError naming the policies known."""
    name = text.strip()
    if not name:
        raise InvalidInputError("an empty --policy", expected=f"one of {', '.join(KNOWN)}")
    parts = [p.strip() for p in name.split("+")]
    if parts == ["never"]:
        return Policy("never")
    monitor: list[str] = []
    interval: timedelta | None = None
    cron: str | None = None
    for part in parts:
        if part in MONITOR_TRIGGERS:
            if part not in monitor:
                monitor.append(part)
        elif part.startswith("schedule:"):
            try:
                interval = parse_duration(part.removeprefix("schedule:"))
            except ValueError as exc:
                raise InvalidInputError(f"policy {name!r}: {exc}") from None
            if interval < every:
                raise InvalidInputError(
                    f"policy {name!r} retrains every {interval}, more often than the "
                    f"replay's period ({every})",
                    expected="a schedule at least as long as --every",
                    fix=f"use schedule:{duration_text(every)} or longer, or a shorter --every",
                )
        elif part == "schedule":
            if config.retrain.schedule is None:
                raise InvalidInputError(
                    f"policy {name!r} names the cron schedule but retrain.schedule is not set",
                    fix="set retrain.schedule in opsloop.yaml or use schedule:<duration>, "
                    "e.g. schedule:4w",
                )
            cron = config.retrain.schedule
        else:
            raise InvalidInputError(
                f"unknown policy {part!r}" + (f" in {name!r}" if part != name else ""),
                expected=f"one of {', '.join(KNOWN)}, or several joined by '+'",
                got=repr(part),
            )
    return Policy(name, tuple(monitor), interval, cron)


def default_policies(config: ProjectConfig, every: timedelta) -> list[str]:
    """The project's `retrain.on` (the triggers a backtest can replay), `never` and a
    schedule four periods long."""
    replayable = [t for t in config.retrain.on if t in MONITOR_TRIGGERS]
    if "schedule" in config.retrain.on and config.retrain.schedule:
        replayable.append("schedule")
    names = ["+".join(replayable)] if replayable else []
    return [*names, "never", f"schedule:{duration_text(every * 4)}"]


def parse_policies(
    texts: list[str] | None, *, every: timedelta, config: ProjectConfig
) -> list[Policy]:
    """The policies to compare (the defaults when none are given), each once, in order."""
    chosen = texts or default_policies(config, every)
    out: list[Policy] = []
    for text in chosen:
        policy = parse_policy(text, every=every, config=config)
        if policy.name not in [p.name for p in out]:
            out.append(policy)
    return out
