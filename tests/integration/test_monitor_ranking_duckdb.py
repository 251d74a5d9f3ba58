"""`opsloop monitor` for a ranking project on the real engine: DuckDB over the prediction
log's Parquet files (the lists of a ranking run, contract 4) and the label files (the
visits, contract 5) — the same result as the in-memory engine on the same rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from opsloop.data.predlog import partition_dir
from opsloop.engines.memory import MemoryEngine
from ranking_monitor import MODEL, WINDOW, list_rows, make_root, nightly, open_project, visit_rows


def test_duckdb_reads_the_lists_and_visits_as_the_memory_engine(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    at = WINDOW.start - timedelta(hours=1)
    lists, visits = list_rows(nightly(root), at), visit_rows(root)

    on_disk = open_project(root, engine=None)  # the project's DuckDB engine
    folder = partition_dir(root / ".opsloop" / "predictions", MODEL, at)
    folder.mkdir(parents=True)
    lists.to_parquet(folder / "part-run-1.parquet", index=False)
    labels = root / ".opsloop" / "labels"
    labels.mkdir(parents=True, exist_ok=True)
    visits.to_parquet(labels / "part-visits.parquet", index=False)
    got = on_disk.monitor(window=WINDOW)

    memory = MemoryEngine()
    memory.add_predictions(lists)
    memory.add_labels(visits)
    expected = open_project(root, engine=memory).monitor(window=WINDOW)

    assert type(on_disk.engine).__name__ == "DuckDBEngine"
    assert (got.n_rows, got.n_labelled) == (expected.n_rows, expected.n_labelled)
    assert got.n_labelled == len(visits) and got.n_rows == lists["user_id"].nunique() + 1
    assert got.performance_value == pytest.approx(expected.performance_value, rel=1e-12)
    a, b = got.summary["ranking"], expected.summary["ranking"]
    assert a["realised"] == b["realised"] and a["fallback"] == b["fallback"]
    assert a["coverage"] == b["coverage"] and a["popularity"] == b["popularity"]
    assert a["breaches"] == [] and not got.drift_detected
