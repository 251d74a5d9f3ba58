"""The web app's visits: a posted visit checked at the edge (`parse_visit`, no pandas) and
stored by group commit (`VisitLog`).

Group commit: a request hands its visit to the log and waits; one writer thread takes
every visit queued so far and stores them as one labels part (`Project.add_labels`: one
Parquet file, one data arrival and one `labels_added` event), then answers all of them. A
visit is acknowledged only once its part is renamed into place, so no acknowledged visit
is lost, and a burst of visits becomes a few parts rather than one per request (the
visits that arrive while a part is written go into the next one). A part that cannot be
stored fails its requests (HTTP 503: the client may retry) and nothing of it is kept.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opsloop.errors import InvalidInputError, OpsloopError

FIELDS = ("user", "restaurant", "time", "rating")
MAX_BATCH = 5000  # visits per part at most


class VisitError(InvalidInputError):
    """A posted visit that cannot be stored: HTTP 422, with the fields at fault."""

    def __init__(self, what: str, details: list[dict[str, Any]]) -> None:
        self.details = details
        one = details[0] if len(details) == 1 else None
        super().__init__(
            what,
            expected=None if one is None else one["expected"],
            got=None if one is None else one["got"],
            fix='post {"user": ID, "restaurant": ID, "time": ISO 8601 (optional, default now), '
            '"rating": number (optional)}',
        )


class LogClosedError(OpsloopError, RuntimeError):
    """The visit log is shutting down: the visit was not taken (HTTP 503)."""


@dataclass(frozen=True)
class Visit:
    """A checked visit: ids as text, the time in UTC."""

    user: str
    restaurant: str
    time: datetime
    rating: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "restaurant": self.restaurant,
            "time": self.time.isoformat(),
            "rating": self.rating,
        }


def _detail(field: str, expected: str, got: Any) -> dict[str, Any]:
    shown = repr(got)
    return {"field": field, "expected": expected, "got": shown[:80]}


def _id(body: Mapping[str, Any], field: str, details: list[dict[str, Any]]) -> str:
    value = body.get(field)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    details.append(_detail(field, f"the {field}'s id: a non-empty string or an integer", value))
    return ""


def parse_visit(
    body: Any,
    *,
    rating_range: tuple[float, float] | None,
    rated: bool,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Visit:
    """A JSON body as a `Visit`, or `VisitError` naming every field at fault. `rated`:
    the project records ratings (`ranking.rating_column`); `time` defaults to `now()`."""
    if not isinstance(body, dict):
        raise VisitError(
            "a visit must be a JSON object",
            [_detail("body", "an object with user, restaurant, time, rating", body)],
        )
    details: list[dict[str, Any]] = []
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        details.append(_detail(unknown[0], f"only the fields {list(FIELDS)}", unknown))
    user = _id(body, "user", details)
    restaurant = _id(body, "restaurant", details)
    time = _time(body.get("time"), now, details)
    rating = _rating(body.get("rating"), rating_range, rated, details)
    if details:
        fields = ", ".join(dict.fromkeys(d["field"] for d in details))
        raise VisitError(f"invalid visit: {fields}", details)
    assert time is not None
    return Visit(user, restaurant, time, rating)


def _time(
    value: Any, now: Callable[[], datetime], details: list[dict[str, Any]]
) -> datetime | None:
    if value is None:
        return now().astimezone(UTC)
    expected = "an ISO 8601 date-time such as 2026-12-07T19:30:00Z (no zone: UTC)"
    if not isinstance(value, str):
        details.append(_detail("time", expected, value))
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        details.append(_detail("time", expected, value))
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _rating(
    value: Any,
    bounds: tuple[float, float] | None,
    rated: bool,
    details: list[dict[str, Any]],
) -> float | None:
    if value is None:
        return None
    if not rated:
        details.append(_detail("rating", "no rating: the project records none", value))
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        details.append(_detail("rating", "a number", value))
        return None
    number = float(value)
    if not math.isfinite(number):
        details.append(_detail("rating", "a finite number", value))
        return None
    if bounds is not None and not bounds[0] <= number <= bounds[1]:
        details.append(_detail("rating", f"a number in [{bounds[0]:g}, {bounds[1]:g}]", value))
        return None
    return number


# ---- group commit ------------------------------------------------------------------------
@dataclass
class LogCounts:
    """What the log did since it started."""

    stored: int = 0  # visits acknowledged
    parts: int = 0  # parts written
    failed: int = 0  # visits whose part could not be stored


class VisitLog:
    """Stores visits by group commit (see the module docstring): `submit` returns a future
    that resolves once the visit's part is stored (to what `store` returned) or fails with
    its error."""

    def __init__(self, store: Callable[[list[Visit]], object], *, max_batch: int = MAX_BATCH):
        self._store = store
        self._max = max_batch
        self._queue: list[tuple[Visit, Future[object]]] = []
        self._wake = threading.Condition()
        self._closing = False
        self.counts = LogCounts()
        self._thread = threading.Thread(target=self._run, name="visit-log", daemon=True)
        self._thread.start()

    def submit(self, visit: Visit) -> Future[object]:
        future: Future[object] = Future()
        with self._wake:
            if self._closing:
                raise LogClosedError(
                    "the web app is shutting down: the visit was not stored",
                    fix="post it again to a running instance",
                )
            self._queue.append((visit, future))
            self._wake.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closing:
                    self._wake.wait()
                if not self._queue:
                    return  # closing, everything stored
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            try:
                result = self._store([v for v, _ in batch])
            except BaseException as exc:  # every waiting request gets the reason
                self.counts.failed += len(batch)
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self.counts.stored += len(batch)
            self.counts.parts += 1
            for _, future in batch:
                future.set_result(result)

    def close(self, timeout: float = 30.0) -> None:
        """Store every visit taken, then stop; later `submit`s are refused."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(timeout)
