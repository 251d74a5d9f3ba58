"""`opsloop monitor --from/--to/--every` and `opsloop monitor history` on the embedded
stack: MLflow, the ops store in SQLite and DuckDB over a real Parquet prediction log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from opsloop.serve import PredictionLogWriter
from tinyproject import run_cli, tiny_frame, write_tiny_project

T0 = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_tiny_project(tmp_path_factory.mktemp("backfill") / "tiny")
    code, out = run_cli("train", "-p", str(root), "--json")
    assert code == 0 and json.loads(out)["promoted"] is True, out
    writer = PredictionLogWriter(root / ".opsloop" / "predictions", "tiny")
    labels = []
    for hour in range(4):  # the last hour drifts
        frame = tiny_frame(300, drift=1.0 if hour == 3 else 0.0, seed=50 + hour, prefix=f"h{hour}")
        score = 1 / (1 + np.exp(-1.5 * frame["x1"]))
        writer.submit(
            pd.DataFrame(
                {
                    "prediction_id": frame["row_id"],
                    "request_id": "r",
                    "ts": pd.Timestamp(T0 + timedelta(hours=hour, minutes=10)),
                    "model_version": "1",
                    "route": "stable",
                    "x1": frame["x1"],
                    "x2": frame["x2"],
                    "color": frame["color"],
                    "prediction": (score >= 0.5).astype(int),
                    "score": score,
                }
            )
        )
        labels.append(frame[["row_id", "label"]])
    writer.close()
    pd.concat(labels).to_csv(root / "labels.csv", index=False)
    code, out = run_cli("labels", "add", str(root / "labels.csv"), "-p", str(root))
    assert code == 0, out
    return root


def test_backfill_history_and_idempotency(logged: Path) -> None:
    root = str(logged)
    window = ("--from", "2026-05-01", "--to", "2026-05-01T04:30", "--every", "1h")
    code, out = run_cli("monitor", "-p", root, *window, "--json")
    assert code == 0, out
    result = json.loads(out)
    assert [m["window_start"][11:13] for m in result["monitored"]] == ["00", "01", "02", "03"]
    assert result["monitored"][-1]["drift_detected"] is True
    assert result["monitored"][-1]["newly_drifted"]
    assert result["remainder"] == "2026-05-01T04:00:00+00:00/2026-05-01T04:30:00+00:00"
    html = Path(result["report_path"]).read_text(encoding="utf-8")
    assert "Over time (4 windows of this version)" in html and "http" not in html

    code, out = run_cli("monitor", "-p", root, *window)  # the progress bar, then a summary
    assert code == 0, out
    assert "0 monitored" in out and "skipped 4: already monitored" in out

    code, out = run_cli("monitor", "history", "-p", root, "--json")
    assert code == 0, out
    windows = json.loads(out)["windows"]
    assert len(windows) == 4 and windows[-1]["previous"]["newly_drifted"]
    assert windows[0]["n_labelled"] == 300 and windows[0]["performance_value"] > 0.6
    code, out = run_cli("monitor", "-p", root, "history", "--limit", "2")
    assert code == 0 and "05-01 04:00" in out and "+x1" in out, out
    assert out.strip().endswith(".html")  # the last window's report charts the history


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "yesterday"), "cannot read 'yesterday' as a time"),
        (("--to", "1h"), "backfill options"),
        (("--from", "2026-05-01", "--window", "1h"), "use --every"),
        (("--from", "2026-05-01", "--to", "2026-05-01T00:30"), "no whole 1:00:00 window"),
        (("--from", "2026-05-01", "--every", "soon"), "--every"),
    ],
)
def test_bad_backfill_options_are_one_line_errors(
    logged: Path, args: tuple[str, ...], message: str
) -> None:
    code, out = run_cli("monitor", "-p", str(logged), *args)
    assert code == 1 and message in out and "Traceback" not in out, out
