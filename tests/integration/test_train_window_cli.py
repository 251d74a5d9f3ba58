"""`opsloop train --from/--to/--as-of` and `retrain.anchor: data` on the local stack (MLflow
on SQLite, DuckDB, the SQLite ops store) with data of 2023 — years before now, so a window
ending now would hold nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tinyproject import run_cli as run
from tinyproject import tiny_frame, write_tiny_project

NEWEST = datetime(2023, 6, 30, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def old(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_tiny_project(tmp_path_factory.mktemp("asof") / "p")
    frame = tiny_frame(1500, days=90)
    frame["event_time"] += NEWEST - frame["event_time"].max().to_pydatetime()
    frame.to_parquet(root / "data" / "history.parquet", index=False)
    return root


def test_train_on_past_windows_records_them_and_warns(old: Path) -> None:
    p = str(old)
    code, out = run("train", "-p", p, "--from", "2023-04-01", "--to", "2023-07-01", "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["window"] == "2023-04-01T00:00:00Z/2023-07-01T00:00:00Z"
    assert first["rows"]["total"] == 1500 and first["promoted"] is True
    assert first["requested"] == {
        "from": "2023-04-01T00:00:00+00:00",
        "to": "2023-07-01T00:00:00+00:00",
    }

    # as of 2023-04-20: the 30 days before hold ~ a fifth of the champion's rows
    code, out = run("train", "-p", p, "--as-of", "2023-04-20", "--force")
    assert code == 0, out
    assert "Training window 2023-03-21T00:00:00Z/2023-04-20T00:00:00Z (--as-of" in out
    assert "warning:" in out and "of the 1500 rows champion version 1 was trained on" in out
    assert out.count("of the 1500 rows") == 1  # printed at the load stage, not again

    code, out = run("events", "-p", p, "--kind", "training_data_shrank", "--json")
    (event,) = json.loads(out)
    assert event["evidence"]["champion_rows"] == 1500 and event["evidence"]["rows"] < 750
    assert event["evidence"]["requested"] == {"as_of": "2023-04-20T00:00:00+00:00"}

    code, out = run("status", "-p", p, "--json")
    champion = json.loads(out)["champion"]["training"]
    assert champion["window"] == first["window"] and champion["rows"] == 1500
    assert champion["event_end"].startswith("2023-06-30T12:00:00")
    code, out = run("status", "-p", p)
    assert code == 0 and "trained on" in out and "1500 rows" in out


def test_anchor_data_trains_on_the_window_before_the_newest_event(old: Path) -> None:
    yaml = (old / "opsloop.yaml").read_text()
    (old / "opsloop.yaml").write_text(
        yaml.replace("training_window: 30d,", "training_window: 30d, anchor: data,")
    )
    try:
        code, out = run("train", "-p", str(old), "--force", "--json")
    finally:
        (old / "opsloop.yaml").write_text(yaml)
    assert code == 0, out
    o = json.loads(out)
    assert o["window"] == "2023-05-31T12:00:01Z/2023-06-30T12:00:01Z" and o["anchor"] == "data"
    assert 300 < o["rows"]["total"] < 700


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2023-06-01", "--to", "2023-05-01"), "--to must be after --from"),
        (("--from", "last spring"), "--from: cannot read 'last spring' as a time"),
        (("--from", "2023-05-01", "--as-of", "2023-06-01"), "--as-of cannot be combined"),
    ],
)
def test_bad_windows_are_one_line_errors(old: Path, args: tuple[str, ...], message: str) -> None:
    code, out = run("train", "-p", str(old), *args)
    assert code == 1 and message in out and "Traceback" not in out
    code, out = run("retrain", "-p", str(old), *args)
    assert code == 1 and message in out


def test_a_retraining_request_keeps_its_window(old: Path) -> None:
    code, out = run("retrain", "-p", str(old), "--as-of", "2023-06-01", "--json")
    assert code == 0, out
    assert json.loads(out)["window"] == {"as_of": "2023-06-01T00:00:00+00:00"}
