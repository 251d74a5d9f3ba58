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
    """Make evidence JSON-safe (numpy scalars, datetimes, tuples; NaN and ±inf become None,
    as strict JSON — PostgreSQL's `json` type — has no token for them).

    One orjson round trip (C), ~10× faster than walking the tree in Python, which matters
    for a monitoring summary of hundreds of nodes stored per window in a backfill; a value
    orjson cannot encode (an unknown object, an integer beyond 64 bits, a lone surrogate)
    takes the walk, which leaves what it does not know as it is."""
    import orjson

    try:
        return orjson.loads(orjson.dumps(value, default=_plain, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _walk(value)


def dumps(value: Any) -> str:
    """`value` as one line of strict JSON (what the ops store's JSON columns hold)."""
    import orjson

    try:
        return orjson.dumps(value, default=_plain, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        import json

        return json.dumps(_walk(value))


def _plain(value: Any) -> Any:
    """orjson's fallback: a numpy scalar's Python value, a datetime subclass's ISO text."""
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _walk(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return _walk(value.item())
    if isinstance(value, float) and (value != value or value in (_INF, -_INF)):
        return None  # not JSON
    return value


_INF = float("inf")
