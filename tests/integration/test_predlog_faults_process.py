"""The prediction log of a real `opsloop serve` process under faults (issue 19, findings 1
and 12, "Storage faults"): a request the log cannot store does not block the rows behind it;
a disk that refuses writes (injected ENOSPC / EACCES through `OPSLOOP_FAULTS`: this suite
runs as root, for whom `chmod` does not make a folder unwritable) degrades the server without
losing an answered row; with `serve.log_durability: request` a SIGKILL loses nothing
answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsloop.project import Project
from serve_fixtures import predict, read_prediction_log, server, stop, wait_for
from tinyproject import write_tiny_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_tiny_project(tmp_path_factory.mktemp("p") / "tiny")
    Project(root).train()
    return root


def configure(root: Path, serve_yaml: str) -> None:
    text = (root / "opsloop.yaml").read_text().split("serve:")[0]
    (root / "opsloop.yaml").write_text(text + "serve:\n" + serve_yaml)
    log = root / ".opsloop" / "predictions"
    if log.exists():
        import shutil

        shutil.rmtree(log)


def test_a_surrogate_request_then_50_good_ones_all_logged(trained: Path) -> None:
    configure(trained, "  log_flush_interval: 100ms\n")
    with server(trained) as (proc, client):
        bad = client.post(
            "/predict",
            content=rb'{"records": [{"row_id": "s", "x1": 0.1, "x2": 0.2, "color": "\ud800"}]}',
        )
        assert bad.status_code == 400 and "surrogate" in bad.json()["error"]
        answered = [f"g{i}" for i in range(50) if predict(client, f"g{i}").status_code == 200]
        assert len(answered) == 50
        wait_for(lambda: len(read_prediction_log(trained)) == 50, 30)  # flushed while serving
        stop(proc)
    assert sorted(read_prediction_log(trained)["prediction_id"]) == sorted(answered)


@pytest.mark.parametrize("code", ["ENOSPC", "EACCES"])
def test_a_log_folder_that_refuses_writes_degrades_and_recovers(
    trained: Path, tmp_path: Path, code: str
) -> None:
    configure(trained, "  log_flush_interval: 100ms\n")
    faults = tmp_path / "faults"
    faults.write_text(f"predlog.write {code}\n")
    with server(trained, OPSLOOP_FAULTS=str(faults)) as (proc, client):
        answered = [f"a{i}" for i in range(30) if predict(client, f"a{i}").status_code == 200]
        assert len(answered) == 30  # the server keeps answering
        wait_for(lambda: client.get("/v2/health/ready").json()["degraded"] != [], 30)
        ready = client.get("/v2/health/ready")
        assert ready.status_code == 200 and "injected" in ready.json()["degraded"][0]
        assert "opsloop_prediction_log_degraded 1.0" in client.get("/metrics").text
        faults.unlink()  # the disk has room again: recovery needs nobody
        wait_for(lambda: client.get("/v2/health/ready").json()["degraded"] == [], 30)
        assert "opsloop_prediction_log_degraded 0.0" in client.get("/metrics").text
        answered += [f"b{i}" for i in range(5) if predict(client, f"b{i}").status_code == 200]
        err = stop(proc)
    assert sorted(read_prediction_log(trained)["prediction_id"]) == sorted(answered)
    fault_lines = [line for line in err.splitlines() if "injected" in line]
    assert len(fault_lines) == 1, err  # one line for the whole fault, no traceback
    assert "Traceback" not in err


def test_sigkill_loses_nothing_answered_with_request_durability(trained: Path) -> None:
    # a flush interval no test reaches: without the journal every answered row would be lost
    configure(trained, "  log_flush_interval: 1h\n  log_durability: request\n")
    with server(trained) as (proc, client):
        answered = [f"k{i}" for i in range(40) if predict(client, f"k{i}").status_code == 200]
        proc.kill()
        proc.wait(timeout=30)
    assert len(answered) == 40
    assert not list((trained / ".opsloop" / "predictions").glob("model=tiny/*/*/*.parquet"))
    status = Project(trained).status()
    assert status["prediction_log"]["journal_segments"] == 1
    with server(trained) as (proc, client):  # the next server replays the dead one's journal
        stop(proc)
    assert sorted(read_prediction_log(trained)["prediction_id"]) == sorted(answered)
    assert Project(trained).status()["prediction_log"]["journal_segments"] == 0


def test_sigkill_in_batch_mode_loses_the_unflushed_interval(trained: Path) -> None:
    """The documented loss window of the default (docs/reliability.md)."""
    configure(trained, "  log_flush_interval: 1h\n")
    with server(trained) as (proc, client):
        assert all(predict(client, f"w{i}").status_code == 200 for i in range(10))
        proc.kill()
        proc.wait(timeout=30)
    assert not list((trained / ".opsloop" / "predictions").glob("model=tiny/*/*/*.parquet"))
