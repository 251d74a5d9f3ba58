"""Batch prediction (`Project.predict`): the answers equal the model's own, every row in the
output and in the prediction log, the contract checked before anything is written, failed
and interrupted runs leave nothing visible, publish and roll back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from opsloop.batch import read_current, republish_version
from opsloop.errors import DataValidationError, NotFoundError, StateError
from tinyproject import tiny_frame


@pytest.fixture
def trained(memory_project):
    outcome = memory_project.train()
    return memory_project, outcome.version


def _input(tmp_path: Path, n: int = 1000, *, seed: int = 3, files: int = 1) -> Path:
    frame = tiny_frame(n, seed=seed, prefix="q", days=0.01).drop(columns=["label"])
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    size = -(-n // files)
    for i in range(files):
        frame.iloc[i * size : (i + 1) * size].to_parquet(folder / f"part-{i}.parquet")
    return folder


def _visible(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_scores_every_row_like_the_model_into_output_and_log(trained, tmp_path):
    p, version = trained
    folder = _input(tmp_path, 1000, files=3)
    seen: list[tuple[int, int | None]] = []
    result = p.predict(
        str(folder / "*.parquet"),
        tmp_path / "out",
        batch_rows=1000 // 7,
        on_rows=lambda done, total: seen.append((done, total)),
    )
    run = result.run
    assert (run.status, run.rows, run.version, result.log_rows) == (
        "succeeded",
        1000,
        version,
        1000,
    )
    assert result.inference == "compiled"  # the tiny pipeline is verified at registration
    assert seen[-1] == (1000, 1000) and len(seen) > 3
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    out = pd.read_parquet(result.output).set_index("row_id").sort_index()
    assert list(out.columns) == ["event_time", "prediction", "score", "model", "version", "run_id"]
    assert (out["run_id"] == run.run_id).all() and (out["version"] == version).all()
    frame = pd.concat(pd.read_parquet(f) for f in sorted(folder.glob("*.parquet")))
    frame = frame.set_index("row_id").sort_index()
    model = p.registry.load("tiny", version)
    want = model.estimator.predict_proba(frame[model.feature_names])[:, 1]
    np.testing.assert_allclose(out["score"].to_numpy(), want, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(
        out["prediction"], model.estimator.predict(frame[model.feature_names])
    )
    assert (out["event_time"] == frame["event_time"]).all()

    from opsloop.engines.duckdb import DuckDBEngine

    engine = DuckDBEngine(p.paths.predictions, p.paths.labels)
    assert engine.count_logged("tiny", frame.index.tolist()) == 1000
    (log_file,) = _visible(p.paths.predictions)
    log = pq.read_table(log_file).to_pandas()
    assert set(log["route"]) == {"batch"} and set(log["request_id"]) == {f"batch-{run.run_id}"}
    assert list(log.columns[:6]) == [
        "prediction_id",
        "request_id",
        "ts",
        "event_ts",
        "model_version",
        "route",
    ]
    assert set(log.columns) >= {"x1", "x2", "color", "prediction", "score"}

    (event,) = p.events(kinds=["batch_predicted"])
    ev = event.evidence
    assert (ev["rows"], ev["version"], ev["output"]) == (1000, version, str(result.output))
    assert ev["input_fingerprint"] == run.input_fingerprint and ev["rows_per_second"] > 0
    assert p.batch_history()[0].run == run


def test_csv_and_query_inputs(trained, tmp_path):
    p, _ = trained
    frame = tiny_frame(200, seed=4, prefix="c", days=0.01).drop(columns=["label"])
    frame.to_csv(tmp_path / "in.csv", index=False)
    from_csv = p.predict(str(tmp_path / "in.csv"), tmp_path / "out")
    assert from_csv.run.rows == 200
    query = f"sql:SELECT * FROM read_csv('{tmp_path / 'in.csv'}') WHERE x1 > 0"
    from_query = p.predict(query, tmp_path / "out")
    assert from_query.run.rows == int((frame["x1"] > 0).sum())
    assert from_query.run.input == query
    from_frame = p.predict(frame, tmp_path / "out")
    assert from_frame.run.rows == 200
    fingerprints = {r.run.input_fingerprint for r in p.batch_history()}
    assert len(fingerprints) == 3


def test_bad_columns_are_named_at_once_and_nothing_is_written(trained, tmp_path):
    p, version = trained
    frame = tiny_frame(50, seed=5, prefix="b", days=0.01).drop(columns=["label", "x2"])
    frame["x1"] = frame["x1"].astype(str)
    frame.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataValidationError) as caught:
        p.predict(str(tmp_path / "bad.parquet"), tmp_path / "out")
    message = caught.value.message
    assert f"version {version}'s feature contract (2 column(s))" in message
    assert "x1: expected a number (trained as float64), got VARCHAR; fix: cast it" in message
    assert "x2: expected a number (trained as float64), got no such column" in message
    assert "color" not in message.split("Expected")[0]
    assert not (tmp_path / "out").exists() or not _visible(tmp_path / "out")
    assert not p.paths.predictions.exists() or not _visible(p.paths.predictions)
    (run,) = p.store.list_batch_runs("tiny")
    assert run.status == "failed" and run.output is None and "feature contract" in run.error
    assert p.events(kinds=["batch_failed"])


def test_a_failure_mid_run_removes_what_was_written(trained, tmp_path, monkeypatch):
    p, _ = trained
    folder = _input(tmp_path, 900)
    from opsloop.batch import scoring

    calls = {"n": 0}
    real = scoring.ArrowScorer.predict

    def flaky(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as a killed job's Ctrl-C
        return real(self, batch)

    monkeypatch.setattr(scoring.ArrowScorer, "predict", flaky)
    with pytest.raises(KeyboardInterrupt):
        p.predict(str(folder), tmp_path / "out", batch_rows=100)
    # the run stops there: the batches already handed to the other workers, not all nine
    assert 3 <= calls["n"] < 9
    assert list((tmp_path / "out").iterdir()) == []
    assert not _visible(p.paths.predictions)
    assert not list(p.paths.predictions.rglob("*.tmp"))
    (run,) = p.store.list_batch_runs("tiny")
    assert (run.status, run.error) == ("failed", "interrupted")


def test_a_null_in_a_feature_trained_without_nulls_fails_the_run(trained, tmp_path):
    p, _ = trained
    frame = tiny_frame(40, seed=6, prefix="n", days=0.01).drop(columns=["label"])
    frame.loc[5, "x1"] = np.nan
    with pytest.raises(DataValidationError, match="'x1' has 1 missing value"):
        p.predict(frame, tmp_path / "out")
    assert not _visible(tmp_path / "out")


def test_version_and_alias_choice(trained, tmp_path):
    p, version = trained
    folder = _input(tmp_path, 100)
    assert p.predict(str(folder), tmp_path / "o", version=version).run.version == version
    assert p.predict(str(folder), tmp_path / "o", alias="champion").run.version == version
    with pytest.raises(NotFoundError, match="with the alias 'challenger'"):
        p.predict(str(folder), tmp_path / "o", alias="challenger")
    with pytest.raises(NotFoundError):
        p.predict(str(folder), tmp_path / "o", version="99")


def test_publish_rollback_and_read_current(trained, tmp_path):
    p, _ = trained
    with pytest.raises(NotFoundError, match="no published batch output"):
        read_current(p)
    out = tmp_path / "out"
    runs = [
        p.predict(str(_input(tmp_path, 60 + 10 * i, seed=i)), out, publish=True).run
        for i in range(3)
    ]
    unpublished = p.predict(str(_input(tmp_path, 5)), out).run
    current = read_current(p)
    assert current.run == runs[2] and current.publication.revision == 3
    assert current.to_pandas()["run_id"].unique().tolist() == [runs[2].run_id]
    manifest = (out / "current.json").read_text()
    assert runs[2].run_id in manifest and '"revision": 3' in manifest

    back = p.rollback_batch()
    assert (back.run_id, back.kind, back.revision) == (runs[1].run_id, "rolled_back", 4)
    assert read_current(p).run == runs[1] and runs[1].run_id in (out / "current.json").read_text()
    assert p.rollback_batch().run_id == runs[0].run_id  # walks back, no flip-flop
    with pytest.raises(StateError, match="no earlier batch output"):
        p.rollback_batch()
    p.publish_batch(unpublished.run_id)
    assert read_current(p).run == unpublished
    history = p.batch_history()
    assert [h.current for h in history] == [True, False, False, False]
    assert history[1].revisions == (3,) and history[3].revisions == (1, 5)
    kinds = [e.kind for e in p.events(kinds=["batch_published", "batch_rolled_back"])]
    assert kinds.count("batch_rolled_back") == 2 and kinds.count("batch_published") == 4


def test_a_model_rollback_republishes_the_output_of_the_version_it_returns_to(
    memory_project, tmp_path
):
    from opsloop.engines.memory import MemoryEngine
    from opsloop.project import Project
    from tinyproject import write_tiny_project

    p = memory_project
    p.train()
    out = tmp_path / "out"
    first = p.predict(str(_input(tmp_path, 50)), out, publish=True).run
    p.train(force=True)
    second = p.predict(str(_input(tmp_path, 50, seed=4)), out, publish=True).run
    other = p.predict(str(_input(tmp_path, 20, seed=5)), tmp_path / "adhoc").run  # unpublished
    assert (first.version, second.version, other.version) == ("1", "2", "2")

    # switched off (`predict.republish_on_rollback: false`): the model alone goes back
    off = Project(
        write_tiny_project(
            tmp_path / "off",
            extra_yaml="predict: {input: in, output: out, republish_on_rollback: false}\n",
        ),
        registry=p.registry,
        store=p.store,
        engine=MemoryEngine(),
    )
    done = off.admin.rollback_model(actor="ops")
    assert done.deployment.version == "1" and done.batch is None
    assert read_current(p).run == second
    p.promote("2")

    done = p.admin.rollback_model(actor="ops")  # on by default
    assert done.deployment.version == "1" and done.batch is not None
    pub = done.batch.publication
    assert pub is not None and not done.batch.failed
    assert (pub.run_id, pub.kind, pub.revision, pub.previous_run_id) == (
        first.run_id,
        "rolled_back",
        3,
        second.run_id,
    )
    assert read_current(p).run == first and first.run_id in (out / "current.json").read_text()
    (event,) = p.events(kinds=["batch_rolled_back"])
    assert (event.actor, event.version) == ("ops", "1")
    assert event.evidence["cause"] == "model_rollback"
    assert (event.evidence["from_version"], event.evidence["to_run_id"]) == ("2", first.run_id)
    # the batch pointer's own rollback does not flip back to the rolled-back version's output
    with pytest.raises(StateError, match="no earlier batch output"):
        p.rollback_batch()
    # the current output already the version's, or a version without a published output
    # of its own: the current one stays
    again = republish_version(p.runtime, "1")
    assert again.publication is None and "is version 1's" in again.note
    none = republish_version(p.runtime, "7")
    assert none.publication is None and "stays" in none.note and not none.failed
    assert read_current(p).run == first and len(p.events(kinds=["batch_rolled_back"])) == 1
