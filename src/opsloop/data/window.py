"""Time windows passed to the user's `load(window)`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


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


def parse_instant(text: str, option: str, *, now: datetime | None = None) -> datetime:
    """A point in time given on the command line or the API: ISO 8601 (a date, or a date
    and time; UTC unless an offset is given) or a duration before `now` such as ``7d``.
    InvalidInputError naming `option` when it is neither."""
    from opsloop.config.base import parse_duration
    from opsloop.errors import InvalidInputError

    try:
        return (now or datetime.now(UTC)) - parse_duration(text)
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"{option}: cannot read {text!r} as a time",
            expected="ISO 8601 such as 2026-05-01 or 2026-05-01T06:00 (UTC), or a duration "
            "before now such as 7d",
            got=repr(text),
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def event_span(frame: pd.DataFrame, time_column: str) -> tuple[datetime | None, datetime | None]:
    """The first and last event time of `frame`'s rows (UTC; None without the column or
    rows)."""
    import pandas as pd

    if time_column not in frame.columns or frame.empty:
        return None, None
    times = pd.to_datetime(frame[time_column], utc=True)
    first, last = times.min(), times.max()
    if pd.isna(first) or pd.isna(last):
        return None, None
    return first.to_pydatetime(), last.to_pydatetime()


@dataclass(frozen=True)
class WindowRequest:
    """A training window as asked for (`opsloop train --from/--to/--as-of/--window`,
    `Project.train`, a retraining request); `orchestrate` resolves it against
    `retrain.training_window` and `retrain.anchor`.

    - `start` (and `end`, default now): exactly ``[start, end)``;
    - `as_of` (or `end` alone): the training window (`length`, default
      `retrain.training_window`) ending then;
    - nothing: the training window ending now, or at the newest event (`anchor: data`).
    """

    start: datetime | None = None
    end: datetime | None = None
    as_of: datetime | None = None
    length: timedelta | None = None

    def __post_init__(self) -> None:
        from opsloop.errors import InvalidInputError

        for name in ("start", "end", "as_of"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
        if self.as_of is not None and (self.start is not None or self.end is not None):
            raise InvalidInputError(
                "--as-of cannot be combined with --from or --to",
                expected="either --from [--to] (an exact window) or --as-of (the training "
                "window ending then)",
                got=f"from={_iso(self.start)}, to={_iso(self.end)}, as_of={_iso(self.as_of)}",
                fix="drop --as-of, or drop --from/--to",
            )
        if self.start is not None and self.length is not None:
            raise InvalidInputError(
                "--window cannot be combined with --from",
                expected="--from [--to] (an exact window) or --window [--as-of] (a length)",
                fix="drop --window: --from and --to give the window's length",
            )
        if self.length is not None and self.length <= timedelta(0):
            raise InvalidInputError(
                "--window must be a positive duration",
                got=str(self.length),
                fix="give e.g. --window 30d",
            )
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise InvalidInputError(
                "--to must be after --from",
                expected="--from earlier than --to (the window is [from, to))",
                got=f"from {_iso(self.start)}, to {_iso(self.end)}",
                fix="swap them, or correct the one that is wrong",
            )

    @property
    def empty(self) -> bool:
        return self.start is None and self.end is None and self.as_of is None

    def to_dict(self) -> dict[str, str]:
        """What was asked, ISO 8601 (and the length as text), without the unset parts."""
        from opsloop.config.base import format_duration

        out = {
            k: _iso(v)
            for k, v in (("from", self.start), ("to", self.end), ("as_of", self.as_of))
            if v is not None
        }
        if self.length is not None:
            out["window"] = format_duration(self.length)
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, str] | None) -> WindowRequest:
        """Inverse of `to_dict` (a retraining request's stored window)."""
        from opsloop.config.base import parse_duration

        data = data or {}

        def at(key: str) -> datetime | None:
            return datetime.fromisoformat(data[key]) if data.get(key) else None

        return cls(
            start=at("from"),
            end=at("to"),
            as_of=at("as_of"),
            length=parse_duration(data["window"]) if data.get("window") else None,
        )

    @classmethod
    def parse(
        cls,
        *,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        as_of: str | datetime | None = None,
        length: str | timedelta | None = None,
        now: datetime | None = None,
    ) -> WindowRequest:
        """From text as typed (`parse_instant`, durations like ``30d``) or datetimes."""
        from opsloop.config.base import parse_duration
        from opsloop.errors import InvalidInputError

        now = now or datetime.now(UTC)

        def at(value: str | datetime | None, option: str) -> datetime | None:
            if value is None or isinstance(value, datetime):
                return value
            return parse_instant(value, option, now=now)

        try:
            span = None if length is None else parse_duration(length)
        except ValueError as exc:
            raise InvalidInputError(f"--window: {exc}", fix="give e.g. --window 30d") from None
        return cls(at(start, "--from"), at(end, "--to"), at(as_of, "--as-of"), span)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
