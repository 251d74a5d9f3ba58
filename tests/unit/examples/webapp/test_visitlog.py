"""The web app's visits: a posted visit checked field by field, and stored by group commit
(a burst becomes a few parts, no visit acknowledged before its part is stored)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from opsloop.examples.webapp.visitlog import (
    LogClosedError,
    Visit,
    VisitError,
    VisitLog,
    parse_visit,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def parse(body: object, *, rated: bool = True) -> Visit:
    return parse_visit(body, rating_range=(1.0, 5.0), rated=rated, now=lambda: NOW)


def test_a_visit_is_normalised() -> None:
    assert parse({"user": " u1 ", "restaurant": 42}) == Visit("u1", "42", NOW, None)
    visit = parse({"user": 7, "restaurant": "r1", "time": "2026-12-06T20:15:00+01:00", "rating": 4})
    assert visit == Visit("7", "r1", datetime(2026, 12, 6, 19, 15, tzinfo=UTC), 4.0)
    naive = parse({"user": "u", "restaurant": "r", "time": "2026-12-06 20:15"})
    assert naive.time == datetime(2026, 12, 6, 20, 15, tzinfo=UTC)  # no zone: UTC


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ({"restaurant": "r1"}, "user", "non-empty string or an integer"),
        ({"user": "", "restaurant": "r1"}, "user", "non-empty string"),
        ({"user": True, "restaurant": "r1"}, "user", "non-empty string"),
        ({"user": "u1", "restaurant": 1.5}, "restaurant", "non-empty string"),
        ({"user": "u1", "restaurant": "r1", "time": "tomorrow"}, "time", "ISO 8601"),
        ({"user": "u1", "restaurant": "r1", "time": 1765100000}, "time", "ISO 8601"),
        ({"user": "u1", "restaurant": "r1", "rating": 6}, "rating", "in [1, 5]"),
        ({"user": "u1", "restaurant": "r1", "rating": "five"}, "rating", "a number"),
        ({"user": "u1", "restaurant": "r1", "rating": True}, "rating", "a number"),
        ({"user": "u1", "restaurant": "r1", "rateing": 4}, "rateing", "only the fields"),
        (["u1", "r1"], "body", "an object"),
    ],
)
def test_each_bad_field_is_named(body: object, field: str, expected: str) -> None:
    with pytest.raises(VisitError) as info:
        parse(body)
    [detail] = info.value.details
    assert detail["field"] == field and expected in detail["expected"]


def test_every_bad_field_is_reported_at_once_and_a_rating_needs_a_rating_column() -> None:
    with pytest.raises(VisitError) as info:
        parse({"user": None, "restaurant": None, "rating": 0})
    assert [d["field"] for d in info.value.details] == ["user", "restaurant", "rating"]
    assert "invalid visit: user, restaurant, rating" in str(info.value)
    with pytest.raises(VisitError, match="invalid visit: rating"):
        parse({"user": "u1", "restaurant": "r1", "rating": 4}, rated=False)


def test_a_burst_is_stored_in_few_parts_and_each_visit_answered_after_its_part() -> None:
    calls: list[int] = []
    first_started, release = threading.Event(), threading.Event()

    def store(visits: list[Visit]) -> object:
        calls.append(len(visits))
        if len(calls) == 1:
            first_started.set()
            release.wait(30)
        return len(calls)

    log = VisitLog(store)
    try:
        first = log.submit(parse({"user": "u0", "restaurant": "r"}))
        assert first_started.wait(30)
        burst = [log.submit(parse({"user": f"u{i}", "restaurant": "r"})) for i in range(1, 51)]
        assert not any(f.done() for f in [first, *burst])  # nothing answered before stored
        release.set()
        assert first.result(30) == 1
        assert {f.result(30) for f in burst} == {2}  # the 50 queued meanwhile: one part
    finally:
        log.close()
    assert calls == [1, 50]
    assert (log.counts.stored, log.counts.parts, log.counts.failed) == (51, 2, 0)


def test_a_part_that_cannot_be_stored_fails_its_visits_and_the_log_goes_on() -> None:
    fail = threading.Event()
    fail.set()

    def store(visits: list[Visit]) -> object:
        if fail.is_set():
            raise OSError(28, "No space left on device")
        return "ok"

    log = VisitLog(store)
    try:
        with pytest.raises(OSError, match="No space"):
            log.submit(parse({"user": "u", "restaurant": "r"})).result(30)
        fail.clear()
        assert log.submit(parse({"user": "u", "restaurant": "r"})).result(30) == "ok"
    finally:
        log.close()
    assert (log.counts.stored, log.counts.failed) == (1, 1)


def test_close_stores_what_was_taken_and_refuses_the_rest() -> None:
    stored: list[str] = []
    gate = threading.Event()

    def store(visits: list[Visit]) -> object:
        gate.wait(30)
        stored.extend(v.user for v in visits)
        return None

    log = VisitLog(store)
    futures = [log.submit(parse({"user": f"u{i}", "restaurant": "r"})) for i in range(5)]
    closer = threading.Thread(target=log.close)
    closer.start()
    gate.set()
    closer.join(30)
    assert all(f.done() and f.exception() is None for f in futures)
    assert sorted(stored) == [f"u{i}" for i in range(5)]
    with pytest.raises(LogClosedError):
        log.submit(parse({"user": "late", "restaurant": "r"}))
