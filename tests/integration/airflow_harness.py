"""Runs inside the Airflow virtualenv (never imported by pytest): run exported DAGs with
`dag.test()`, one per DAG id read from stdin, and print each result as one JSON line
prefixed with `RESULT ` (Airflow's own logs go to stdout too). One process serves the
whole test: starting Airflow's in-process execution API costs seconds.

    python airflow_harness.py < dag ids, one a line

AIRFLOW_HOME (with a migrated SQLite database) and AIRFLOW__CORE__DAGS_FOLDER come from the
environment. When asset events queued the DAG (AssetDagRunQueue rows, written when a
producing task emitted events on the assets it is scheduled on), the harness does the
scheduler's part first: it takes the queue entries and hands the queued events to the run
as its consumed events, as the scheduler does when it creates an asset-triggered run.
Result: {"state", "tasks": {task_id: state}, "queued": bool, "consumed": [extra, ...],
 "events": [{"asset", "extra", "source_dag_id"}, ...] (every asset event so far),
 "returns": {task_id: xcom return value}}, or {"error": traceback}.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

PREFIX = "RESULT "


def main() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    for line in sys.stdin:
        dag_id = line.strip()
        if not dag_id:
            continue
        try:
            if bag.import_errors:
                raise RuntimeError(f"DAG import errors: {bag.import_errors}")
            dag = bag.get_dag(dag_id)
            if dag is None:
                raise LookupError(f"no DAG {dag_id!r} in {sorted(bag.dag_ids)}")
            result = run(dag)
        except Exception:
            result = {"error": traceback.format_exc()}
        print(PREFIX + json.dumps(result, default=str), flush=True)


def run(dag: Any) -> dict[str, Any]:
    import airflow.models.dagrun as dagrun_module

    create = dagrun_module.get_or_create_dagrun
    try:
        queued, consumed = consume_queued_events(dag)
        run = dag.test()
    finally:
        dagrun_module.get_or_create_dagrun = create
    return {
        "state": str(run.state),
        "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()},
        "queued": queued,
        "consumed": consumed,
        "events": asset_events(),
        "returns": returns(dag.dag_id, run.run_id),
    }


def consume_queued_events(dag: Any) -> tuple[bool, list[Any]]:
    """What the scheduler does for an asset-triggered run: take the queue entries of this
    DAG, and attach the asset events they stand for to the new run."""
    import airflow.models.dagrun as dagrun_module
    from airflow.models.asset import AssetDagRunQueue, AssetEvent
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete, func, select

    with create_session() as session:
        queue = session.scalars(
            select(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == dag.dag_id)
        ).all()
        if not queue:
            return False, []
        last_run = session.scalar(
            select(func.max(DagRun.run_after)).where(DagRun.dag_id == dag.dag_id)
        )
        wanted = select(AssetEvent.id).where(
            AssetEvent.asset_id.in_([q.asset_id for q in queue]),
            AssetEvent.timestamp <= max(q.created_at for q in queue),
        )
        if last_run is not None:
            wanted = wanted.where(AssetEvent.timestamp > last_run)
        event_ids = session.scalars(wanted).all()
        session.execute(
            delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == dag.dag_id)
        )

    create = dagrun_module.get_or_create_dagrun
    consumed: list[Any] = []

    def create_and_consume(**kwargs: Any) -> Any:
        run = create(**kwargs)
        session = kwargs["session"]
        events = session.scalars(select(AssetEvent).where(AssetEvent.id.in_(event_ids))).all()
        run.consumed_asset_events.extend(events)
        session.commit()
        consumed.extend(e.extra for e in events)
        return run

    dagrun_module.get_or_create_dagrun = create_and_consume  # dag.test() imports it late
    return True, consumed


def asset_events() -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.uri, AssetEvent.extra, AssetEvent.source_dag_id)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .order_by(AssetEvent.id)
        ).all()
        return [
            {"asset": uri, "extra": extra, "source_dag_id": dag_id} for uri, extra, dag_id in rows
        ]


def returns(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(XComModel.task_id, XComModel.value).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.key == "return_value",
            )
        ).all()
        return {task_id: value for task_id, value in rows}


if __name__ == "__main__":
    main()
