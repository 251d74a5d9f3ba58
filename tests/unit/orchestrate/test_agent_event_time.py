"""On the event clock the agent monitors the log's complete event windows, each once, up
to the watermark (the newest event time), and keys its monitor triggers by those windows:
a 2013 history replayed today is monitored, and fires, by 2013's dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from opsloop.monitor.eventtime import due_windows
from opsloop.orchestrate.agent import tick
from opsloop.project import Project
from tinyproject import prediction_log, tiny_frame

T0 = datetime(2013, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def replay(p: Project, hour: int, *, n: int = 300, drift: float = 0.0) -> None:
    """`n` records of 2013-03-01 `hour`:00–:59 sent to the server today, with labels."""
    frame = tiny_frame(n, drift=drift, seed=40 + hour, prefix=f"h{hour}")
    log = prediction_log(p, frame, "1")  # answered now
    minutes = pd.to_timedelta([59 * k / n for k in range(n)], unit="min")
    log.insert(3, "event_ts", pd.DatetimeIndex(T0 + hour * HOUR + minutes))
    p.engine.add_predictions(log)  # type: ignore[attr-defined]
    p.engine.add_labels(  # type: ignore[attr-defined]
        pd.DataFrame(
            {"prediction_id": log["prediction_id"], "label": frame["label"], "label_ts": T0}
        )
    )


def test_a_replayed_history_is_monitored_and_fires_by_its_own_dates(
    memory_project: Project,
) -> None:
    p = memory_project
    p.train()
    assert p.config.monitor.clock == "event"
    for hour in (0, 2, 3):  # hour 1: no traffic
        replay(p, hour)
    first = tick(p.runtime, force_monitor=True, train=False)
    # hour 3 holds the watermark: not complete; hour 1 has no rows: skipped, not stored
    assert [m.window_start for m in first.windows] == [T0, T0 + 2 * HOUR]
    assert first.monitored is not None and first.monitored.window_start == T0 + 2 * HOUR
    assert first.monitored.n_labelled == 300 and not first.monitored.drift_detected
    assert first.fired == [] and any("2 event windows monitored" in n for n in first.notes)

    nothing = tick(p.runtime, force_monitor=True, train=False)
    assert nothing.monitored is None and nothing.windows == []
    assert any(
        "no 1:00:00 event window complete since 2013-03-01 03:00" in n for n in nothing.notes
    )

    replay(p, 4, drift=1.0)  # hour 3 completes; hour 4 drifts but is still open
    replay(p, 5)
    second = tick(p.runtime, force_monitor=True, train=False)
    assert [m.window_start for m in second.windows] == [T0 + 3 * HOUR, T0 + 4 * HOUR]
    drifted = second.windows[-1]
    assert drifted.drift_detected and drifted.performance_value is not None
    key = "2013-03-01T04:00:00Z/2013-03-01T05:00:00Z"
    assert drifted.performance_degraded  # drift=1.0 also reverses x2's role
    assert [(f.trigger, f.key) for f in second.fired] == [("drift", key), ("performance", key)]
    window = [drifted.window_start.isoformat(), drifted.window_end.isoformat()]
    assert second.fired[0].evidence["window"] == window
    # each window is monitored once: the stored history is the event windows, in order
    stored = p.store.list_monitor_windows("tiny", version="1")
    assert [r.window_start.hour for r in stored] == [0, 2, 3, 4]
    assert all(r.window_end - r.window_start == HOUR for r in stored)


def test_the_watermark_is_the_newest_event_but_never_beyond_now(memory_project: Project) -> None:
    p = memory_project
    p.train()
    rt = p.runtime
    assert (
        due_windows(rt, "1", datetime.now(UTC)).reason == "no predictions of version 1 in the log"
    )
    replay(p, 0)
    replay(p, 26)  # the next day, 02:00
    now = T0 + 25 * HOUR + timedelta(minutes=30)  # a clock behind the records: they cap at it
    due = due_windows(rt, "1", now)
    assert due.watermark == now
    assert due.windows[0].start == T0 and due.windows[-1].end == T0 + 25 * HOUR
    assert len(due.windows) == 25
    later = due_windows(rt, "1", T0 + 100 * HOUR)
    assert later.watermark is not None and later.watermark < T0 + 27 * HOUR
    assert later.windows[-1].end == T0 + 26 * HOUR
