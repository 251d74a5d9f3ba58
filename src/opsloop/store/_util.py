"""Helpers shared by the ops-store query modules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utc(value: datetime) -> datetime:
    """`value` in UTC (naive: taken as UTC), as timestamps are stored: SQLite keeps a
    timestamp's fields without its zone, so a bound compared with them must be UTC too."""
    return aware(value).astimezone(UTC)


def jsonable(value: Any) -> Any:
    """Make evidence JSON-safe (numpy scalars, datetimes, tuples)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value
