"""The feedback loop on the DuckDB engine: production traffic answered by the real serving
path and written by the log writer, labels added with `opsloop labels add`, and a retrain
(`data.feedback: true`) that learns from the labelled rows of its window — and the engine's
`read_feedback` equal to the memory engine's on the same rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

from opsloop.engines.duckdb import DuckDBEngine
from opsloop.engines.labels import ingest_labels
from opsloop.engines.memory import MemoryEngine
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.serve import PredictionLogWriter
from opsloop.serve.app import create_app
from opsloop.serve.context import serve_context
from serve_fixtures import wait_for
from tinyproject import run_cli, tiny_frame, write_tiny_project

NOW = datetime.now(UTC)


def records(frame: pd.DataFrame) -> list[dict]:
    out = frame[["row_id", "event_time", "x1", "x2", "color"]].copy()
    out["event_time"] = out["event_time"].map(lambda t: t.isoformat())
    return json.loads(out.to_json(orient="records"))


def serve(p: Project, frames: list[pd.DataFrame]) -> None:
    """Send `frames` to the real app (the server's request path and log writer)."""
    ctx = serve_context(p.runtime)
    with TestClient(create_app(ctx)) as client:
        wait_for(lambda: client.get("/v2/health/ready").status_code == 200)
        for frame in frames:
            for start in range(0, len(frame), 50):
                chunk = frame.iloc[start : start + 50]
                r = client.post("/predict", json={"records": records(chunk)})
                assert r.status_code == 200, r.text
    assert ctx.log_writer is not None
    ctx.log_writer.close()


def add_labels(p: Project, frame: pd.DataFrame, name: str) -> None:
    path = p.root / f"{name}.csv"
    frame[["row_id", "label"]].to_csv(path, index=False)
    code, out = run_cli("labels", "add", str(path), "-p", str(p.root))
    assert code == 0, out


def load_detail(p: Project) -> dict:
    run = p.store.list_runs(p.name)[0]
    return next(s for s in run.stages if s["name"] == "load")["detail"]


def test_retrain_learns_from_labelled_production_traffic(tmp_path: Path) -> None:
    root = write_tiny_project(tmp_path / "p", extra_yaml="data: {feedback: true}\n")
    p = Project(root, registry=MemoryRegistry(), actor="tester")  # ops store + DuckDB on disk
    assert isinstance(p.engine, DuckDBEngine)
    first = p.train()
    assert first.promoted and first.rows["feedback"] == 0

    fresh = tiny_frame(200, seed=21, prefix="prod", days=2)
    old = tiny_frame(30, seed=22, prefix="old", days=1)
    old["event_time"] = old["event_time"] - pd.Timedelta(days=45)  # before the 30-day window
    history = pd.read_parquet(root / "data" / "history.parquet")
    again = history.tail(20)  # ids load() returns: load()'s rows win
    serve(p, [fresh, old, again])
    logged = p.engine.read_window(p.name, NOW - timedelta(days=60), NOW + timedelta(hours=1))
    assert len(logged) == 250

    second = p.train()  # labelled nothing yet: the same data as v1
    assert second.skipped

    add_labels(p, pd.concat([fresh.head(150), old, again]), "labels-1")
    third = p.train()  # only labels arrived: a new version that learnt from them
    assert not third.skipped and third.version == "2"
    assert third.rows["loaded"] == 1500 and third.rows["feedback"] == 150
    detail = load_detail(p)["feedback"]
    assert (detail["loaded"], detail["feedback"], detail["duplicates"]) == (1500, 150, 20)
    trained = p.events(kinds=["trained"])[-1]
    assert trained.evidence["feedback"]["feedback"] == 150
    assert p.registry.get_version("tiny", "2").tags["opsloop.feedback_rows"] == "150"

    add_labels(p, fresh.tail(50), "labels-2")
    fourth = p.train()
    assert not fourth.skipped and fourth.rows["feedback"] == 200


def test_read_feedback_equals_the_memory_engine(tmp_path: Path) -> None:
    t0 = NOW - timedelta(hours=5)

    def rows(ids: list[str], route: str, x: float, hours: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "prediction_id": ids,
                "request_id": [f"{route}-{i}" for i in ids],
                "ts": pd.Timestamp(NOW),
                "event_ts": pd.Timestamp(t0 + timedelta(hours=hours)),
                "model_version": "2" if route == "candidate" else "1",
                "route": route,
                "prediction": 1,
                "score": 0.7,
                "x": x,
                "color": "red",
            }
        )

    batches = [
        rows(["a", "b", "c"], "stable", 1.0, 1),
        rows(["a"], "shadow", 9.0, 1),
        rows(["b"], "candidate", 8.0, 2),
        rows(["d"], "candidate", 7.0, 3),
        rows(["e"], "shadow", 6.0, 3),
        rows(["f"], "stable", 5.0, -30),  # before the window
    ]
    writer = PredictionLogWriter(tmp_path / "pred", "m")
    memory = MemoryEngine()
    for batch in batches:
        writer.submit(batch)
        memory.add_predictions(batch)
    writer.close()
    truth = pd.DataFrame({"id": ["a", "b", "d", "e", "f"], "y": [1, 0, 1, 1, 0]})
    ingest_labels(truth, tmp_path / "labels", id_column="id", target="y")
    memory.add_labels(
        truth.rename(columns={"id": "prediction_id", "y": "label"}).assign(
            label_ts=pd.Timestamp(NOW)
        )
    )
    duck = DuckDBEngine(tmp_path / "pred", tmp_path / "labels")
    start, end = t0, NOW
    for kwargs in ({}, {"exclude": ["d"]}, {"max_rows": 1}):
        got = [
            e.read_feedback("m", start, end, ["x", "color", "nope"], **kwargs)
            for e in (duck, memory)
        ]
        for g in got:
            g.frame["event_ts"] = pd.to_datetime(g.frame["event_ts"], utc=True)
            g.frame["x"] = g.frame["x"].astype(float)
        d, m = got
        assert (d.labelled, d.duplicates, d.capped) == (m.labelled, m.duplicates, m.capped)
        pd.testing.assert_frame_equal(d.frame, m.frame, check_dtype=False)
    full = duck.read_feedback("m", start, end, ["x"])
    # a: the stable answer, not the shadow's; b: stable over candidate; d: the candidate's
    assert full.frame[["prediction_id", "x"]].values.tolist() == [
        ["a", 1.0],
        ["b", 1.0],
        ["d", 7.0],
    ]
    assert (full.labelled, full.duplicates, full.capped) == (3, 0, 0)
    assert duck.read_feedback("m", start, end, ["x"], max_rows=1).frame[
        "prediction_id"
    ].tolist() == ["d"]
