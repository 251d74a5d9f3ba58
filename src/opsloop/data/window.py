"""Time windows passed to the user's `load(window)`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval ``[start, end)``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Window bounds must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ValueError(f"Window end {self.end} must be after start {self.start}")

    @classmethod
    def last(cls, length: timedelta, *, end: datetime | None = None) -> Window:
        end = end or datetime.now(UTC)
        return cls(end - length, end)

    @classmethod
    def aligned(cls, length: timedelta, *, now: datetime | None = None) -> Window:
        """The most recent complete-or-current window aligned to the epoch (for idempotent keys)."""
        now = now or datetime.now(UTC)
        size = length.total_seconds()
        start = datetime.fromtimestamp((now.timestamp() // size) * size, UTC)
        return cls(start, start + length)

    @classmethod
    def from_key(cls, key: str) -> Window:
        """Inverse of `key`."""
        start, _, end = key.partition("/")
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return cls(
            datetime.strptime(start, fmt).replace(tzinfo=UTC),
            datetime.strptime(end, fmt).replace(tzinfo=UTC),
        )

    @property
    def key(self) -> str:
        return f"{self.start:%Y-%m-%dT%H:%M:%SZ}/{self.end:%Y-%m-%dT%H:%M:%SZ}"
