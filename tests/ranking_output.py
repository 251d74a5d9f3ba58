"""A recommender project and its nightly outputs made by hand, for the tests of what reads
them (the restaurants web app, visits as labels): run folders in the ranking output's
schema (docs/ranking.md: user, rank, item, score, model, version, run_id; the fallback list
as the rows whose user is null), recorded, published and rolled back through the ops
store's batch publication machinery (`publish_batch` + `write_manifest`, as
`batch/publish.py` does), so these tests stand without a trained model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from opsloop.batch.publish import rollback_target, write_manifest
from opsloop.store.records import BatchPublication, BatchRun, NewBatchRun
from opsloop.store.sql import OpsStore

MODEL = "restaurants"
OUTPUT = "recommendations"

RANKING_YAML = """\
model: restaurants
task: ranking
id_column: user_id
target: restaurant_id
time_column: visited_at
code: model.py
ranking:
  user_column: user_id
  item_column: restaurant_id
  rating_column: rating
  rating_range: [1, 5]
  min_rating: 3
  k: 3
  holdout: 14d
gate: {metrics: [{metric: ndcg_at_k, policy: non_inferiority, margin: 0.01}]}
monitor: {performance: {metric: ndcg_at_k, floor: 0.05}}
retrain: {training_window: 90d}
predict: {input: data/users.parquet, output: recommendations, publish: true}
"""


def write_ranking_project(root: Path, *, output_table: str | None = None) -> Path:
    """A `task: ranking` project folder (configuration only: nothing here trains);
    `output_table`: `predict.output_table`."""
    root.mkdir(parents=True, exist_ok=True)
    text = RANKING_YAML
    if output_table is not None:
        text = text.replace("publish: true}", f"publish: true, output_table: '{output_table}'}}")
    (root / "opsloop.yaml").write_text(text, encoding="utf-8")
    (root / "model.py").write_text("def load(window): ...\n\n\ndef build(): ...\n")
    return root


def output_table(
    run_id: str,
    version: str,
    lists: Mapping[str, Sequence[str]],
    fallback: Sequence[str],
    *,
    model: str = MODEL,
) -> pa.Table:
    """One row per (user, rank), the fallback list's rows with a null user; scores fall
    with the rank."""
    users: list[str | None] = []
    ranks: list[int] = []
    items: list[str] = []
    for user, chosen in [*lists.items(), (None, fallback)]:
        for rank, item in enumerate(chosen, start=1):
            users.append(user)
            ranks.append(rank)
            items.append(item)
    n = len(users)
    return pa.table(
        {
            "user_id": pa.array(users, pa.string()),
            "rank": pa.array(ranks, pa.int16()),
            "restaurant_id": pa.array(items, pa.string()),
            "score": pa.array([1.0 / r for r in ranks], pa.float64()),
            "model": pa.array([model] * n, pa.string()),
            "version": pa.array([version] * n, pa.string()),
            "run_id": pa.array([run_id] * n, pa.string()),
        }
    )


def record_run(
    store: OpsStore,
    root: Path,
    run_id: str,
    version: str,
    table: pa.Table,
    *,
    parts: int = 2,
    details: dict[str, object] | None = None,
) -> BatchRun:
    """Write `table` as the run folder `<root>/recommendations/<run_id>/` (in `parts`
    files) and record the succeeded run (`details`: the record's, e.g. its table)."""
    folder = root / OUTPUT / run_id
    folder.mkdir(parents=True)
    step = -(-table.num_rows // parts)
    for i in range(parts):
        pq.write_table(table.slice(i * step, step), folder / f"part-{i}.parquet")
    now = datetime.now(UTC)
    return store.record_batch_run(
        NewBatchRun(
            run_id=run_id,
            model=MODEL,
            version=version,
            status="succeeded",
            started=now,
            finished=now,
            rows=table.num_rows,
            input="data/users.parquet",
            input_fingerprint=run_id,
            output=str(folder),
            seconds=0.1,
            details=details or {},
        )
    )


def publish(store: OpsStore, run_id: str) -> BatchPublication:
    """Make `run_id` current: the store's pointer, then the manifest."""
    publication = store.publish_batch(MODEL, run_id, actor="tester")
    write_manifest(store.get_batch_run(MODEL, run_id), publication)
    return publication


def rollback(store: OpsStore) -> BatchPublication:
    """Back to the previous published run, as `opsloop batch rollback` does."""
    current, target = rollback_target(store, MODEL)
    publication = store.publish_batch(
        MODEL, target, kind="rolled_back", actor="tester", reason=f"back from {current.run_id}"
    )
    write_manifest(store.get_batch_run(MODEL, target), publication)
    return publication
