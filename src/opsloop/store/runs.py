"""Pipeline runs in the ops store (a mixin of `OpsStore`): a run row per pipeline
execution, its stages and heartbeats; runs whose heartbeat stopped are failed once
(compare-and-set on the heartbeat they were seen with)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from opsloop.redact import redact, redact_json
from opsloop.store import schema as t
from opsloop.store._util import aware, jsonable
from opsloop.store.ports import RunRepository
from opsloop.store.records import Evidence, PipelineRun
from opsloop.store.unit import UnitOfWork, new_id


class RunQueries(UnitOfWork, RunRepository):
    # ---- pipeline runs --------------------------------------------------------------
    def start_run(self, model: str, pipeline: str, *, trigger: str | None = None) -> int:
        now = self.now()
        with self._tx() as conn:
            res = conn.execute(
                t.pipeline_runs.insert().values(
                    model=model,
                    pipeline=pipeline,
                    status="running",
                    started=now,
                    trigger=trigger,
                    stages=[],
                    result={},
                    heartbeat=now,
                )
            )
            return new_id(res)

    def update_run(
        self,
        run_id: int,
        *,
        stages: list[dict[str, Any]],
        status: str = "running",
        error: str | None = None,
        result: Evidence | None = None,
    ) -> None:
        # stage details and errors quote exception text: no credentials in the store
        values: dict[str, Any] = {
            "stages": redact_json(jsonable(stages)),
            "status": status,
            "error": None if error is None else redact(error),
        }
        if result is not None:
            values["result"] = redact_json(jsonable(result))
        if status != "running":
            values["finished"] = self.now()
        else:
            values["heartbeat"] = self.now()
        with self._tx() as conn:
            conn.execute(
                t.pipeline_runs.update()
                .where(t.pipeline_runs.c.id == run_id, t.pipeline_runs.c.status == "running")
                .values(**values)
            )

    def list_runs(self, model: str, *, limit: int = 20) -> list[PipelineRun]:
        """Pipeline runs, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.pipeline_runs)
                .where(t.pipeline_runs.c.model == model)
                .order_by(t.pipeline_runs.c.id.desc())
                .limit(limit)
            ).mappings()
            return [pipeline_run(r) for r in rows]

    # ---- run heartbeats ---------------------------------------------------------------
    def beat_run(self, run_id: int) -> bool:
        """Record that a running pipeline is alive; False once it is no longer running."""
        with self._tx() as conn:
            res = conn.execute(
                t.pipeline_runs.update()
                .where(t.pipeline_runs.c.id == run_id, t.pipeline_runs.c.status == "running")
                .values(heartbeat=self.now())
            )
        return bool(res.rowcount == 1)

    def list_running_runs(self, model: str, pipeline: str | None = None) -> list[PipelineRun]:
        q = sa.select(t.pipeline_runs).where(
            t.pipeline_runs.c.model == model, t.pipeline_runs.c.status == "running"
        )
        if pipeline is not None:
            q = q.where(t.pipeline_runs.c.pipeline == pipeline)
        with self._read() as conn:
            rows = conn.execute(q.order_by(t.pipeline_runs.c.id)).mappings()
            return [pipeline_run(r) for r in rows]

    def fail_stale_runs(
        self, model: str, cutoff: datetime, *, actor: str = "opsloop"
    ) -> list[PipelineRun]:
        """Mark running runs whose last heartbeat is older than `cutoff` as failed, each with
        a `training_failed` (train) or `pipeline_failed` event; a run that beat in between
        is left alone (compare-and-set on the heartbeat it was seen with)."""
        marked = []
        for run in self.list_running_runs(model):
            beat = run.heartbeat or run.started
            if beat >= cutoff:
                continue
            stage = next(
                (s.get("name") for s in reversed(run.stages) if s.get("status") == "running"), None
            )
            error = f"crashed: no heartbeat since {beat:%Y-%m-%d %H:%M:%S} UTC" + (
                f" (in stage {stage})" if stage else ""
            )
            now = self.now()
            stages = [
                {**s, "status": "failed", "error": "crashed"} if s.get("status") == "running" else s
                for s in run.stages
            ]
            with self._tx() as conn:
                cond = [t.pipeline_runs.c.id == run.id, t.pipeline_runs.c.status == "running"]
                cond.append(
                    t.pipeline_runs.c.heartbeat == run.heartbeat
                    if run.heartbeat is not None
                    else t.pipeline_runs.c.heartbeat.is_(None)
                )
                res = conn.execute(
                    t.pipeline_runs.update()
                    .where(*cond)
                    .values(status="failed", finished=now, error=error, stages=jsonable(stages))
                )
                if res.rowcount != 1:
                    continue
                kind = "training_failed" if run.pipeline == "train" else "pipeline_failed"
                self._insert_event(
                    conn,
                    kind,
                    model,
                    None,
                    error,
                    {
                        "crashed": True,
                        "pipeline_run": run.id,
                        "pipeline": run.pipeline,
                        "trigger": run.trigger,
                        "stage": stage,
                        "heartbeat": beat,
                    },
                    actor,
                )
            marked.append(
                pipeline_run(
                    {
                        **run.to_dict(),
                        "status": "failed",
                        "error": error,
                        "finished": now,
                        "stages": stages,
                        "started": run.started,
                        "heartbeat": run.heartbeat,
                    }
                )
            )
        return marked


def pipeline_run(row: Any) -> PipelineRun:
    data = dict(row)
    for key in ("started", "finished", "heartbeat"):
        value = data.get(key)
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        data[key] = aware(value)
    return PipelineRun(**data)
