"""One bad stored label file must not stop monitoring: a file stored before labels were
validated (text such as "banana" for a 0/1 target) made `opsloop monitor` and the agent's
tick exit with a scikit-learn traceback ("can't handle a mix of multiclass and unknown
targets") until someone deleted it. Now those rows are skipped and counted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from opsloop.engines.duckdb import DuckDBEngine
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.serve import PredictionLogWriter
from opsloop.store import OpsStore
from tinyproject import tiny_frame, write_tiny_project


@pytest.fixture
def project(tmp_path: Path) -> tuple[Project, pd.DataFrame]:
    root = write_tiny_project(tmp_path / "d")
    engine = DuckDBEngine(tmp_path / "pred", root / ".opsloop" / "labels")
    p = Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=engine,
    )
    p.train()
    traffic = tiny_frame(400, seed=3, prefix="d", days=0.01)
    pred, score = p.registry.load("tiny", "1").predict_frame(traffic)
    writer = PredictionLogWriter(tmp_path / "pred", "tiny")
    writer.submit(
        pd.DataFrame(
            {
                "prediction_id": traffic["row_id"],
                "request_id": uuid.uuid4().hex,
                "ts": pd.Timestamp(datetime.now(UTC)),
                "model_version": "1",
                "route": "stable",
                "x1": traffic["x1"],
                "x2": traffic["x2"],
                "color": traffic["color"],
                "prediction": pred,
                "score": score,
            }
        )
    )
    writer.close()
    return p, traffic


def test_monitor_skips_and_counts_unusable_stored_labels(
    project: tuple[Project, pd.DataFrame],
) -> None:
    p, traffic = project
    p.add_labels(traffic[["row_id", "label"]].iloc[:300])  # validated: 0/1
    old = pd.DataFrame(  # as `labels add` stored it before validation existed
        {
            "prediction_id": traffic["row_id"].iloc[300:340].astype(str),
            "label": ["banana"] * 30 + ["1"] * 10,
            "label_ts": pd.Timestamp(datetime.now(UTC)),
        }
    )
    old.to_parquet(p.runtime.paths.labels / "part-old.parquet", index=False)

    result = p.monitor()
    summary = result.summary
    assert summary["n_labels_unusable"] == 30
    assert summary["n_labelled"] == 310  # the valid file and the old file's usable "1"s
    assert summary["performance_value"] is not None
    assert any("30 stored labels skipped as unusable" in n and "'banana'" in n
               for n in summary["notes"])  # fmt: skip

    # `opsloop agent --once`; on the answered clock, whose window ends now: on the event
    # clock the agent waits for the current hour's window to complete
    from dataclasses import replace

    from opsloop.orchestrate.agent import tick as agent_tick

    rt = p.runtime
    monitor = rt.config.monitor.model_copy(update={"clock": "answered"})
    answered = replace(rt, config=rt.config.model_copy(update={"monitor": monitor}))
    tick = agent_tick(answered, force_monitor=True)
    assert tick.monitored is not None
    assert tick.monitored.summary["n_labels_unusable"] == 30


def test_a_file_giving_one_id_two_labels_is_refused(project: tuple[Project, pd.DataFrame]) -> None:
    from opsloop.data.labels import LabelValidationError

    p, traffic = project
    ids = traffic["row_id"].iloc[:3].tolist()
    frame = pd.DataFrame({"row_id": [*ids, ids[0]], "label": [1, 0, 1, 0]})
    with pytest.raises(LabelValidationError, match="id repeated with different labels"):
        p.add_labels(frame)
    assert p.engine.count_labels() == 0  # nothing stored
