"""Rollouts and serving statistics in the ops store (a mixin of `OpsStore`).

Every rollout transition is a compare-and-set on (id, step, status = running) in one
transaction with its event: any number of server replicas and agents may analyse the same
rollout and try to advance it, and exactly one of them wins each transition. Finishing a
rollout by promotion writes the new deployment revision in the same transaction, so servers
never see a finished rollout without its promotion or the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import EllipsisType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsloop import latency
from opsloop.errors import StateError
from opsloop.store import schema as t
from opsloop.store._util import aware, jsonable, utc
from opsloop.store.deployments import DeploymentQueries, revision_conflict
from opsloop.store.ports import RolloutRepository
from opsloop.store.records import (
    Deployment,
    Evidence,
    ReplicaServing,
    Rollout,
    ServeStat,
    newest_per_replica,
)
from opsloop.store.unit import new_id


class RolloutQueries(DeploymentQueries, RolloutRepository):
    """Rollouts (their transitions may write a deployment) and serving statistics."""

    # ---- rollouts -------------------------------------------------------------------
    def start_rollout(
        self,
        model: str,
        *,
        env: str = "production",
        strategy: str,
        stable_version: str,
        candidate_version: str,
        steps: Sequence[float],
        share: float,
        settings: Evidence,
        actor: str,
        reason: str,
        expected_revision: int | EllipsisType | None = ...,
        evidence: Evidence | None = None,
    ) -> Rollout:
        """Begin a rollout; StateError if one is already running for (model, env) or (the
        compare-and-set) the current deployment is no longer `expected_revision`."""
        now = self.now()
        with self._tx() as conn:
            self._serialize(conn, model)
            current = self._current_deployment(conn, model, env)
            found = None if current is None else current.revision
            if expected_revision is not ... and found != expected_revision:
                assert current is not None
                raise revision_conflict(current, candidate_version, expected_revision)
            running = self._latest_rollout(conn, model, env)
            if running is not None and running.running:
                raise StateError(
                    f"a {running.strategy} rollout of version {running.candidate_version} of "
                    f"{model!r} is already running (rollout {running.id}, started by "
                    f"{running.actor})",
                    fix=f"finish it first: `opsloop rollout promote {model}` or "
                    f"`opsloop rollout abort {model}`",
                )
            values = dict(
                model=model,
                env=env,
                strategy=strategy,
                stable_version=stable_version,
                candidate_version=candidate_version,
                steps=list(steps),
                step=0,
                share=share,
                status="running",
                started=now,
                step_started=now,
                finished=None,
                actor=actor,
                reason=reason,
                settings=jsonable(settings),
                analysis={},
                analysed=None,
            )
            res = conn.execute(t.rollouts.insert().values(**values))
            rollout = Rollout(id=new_id(res), **values)
            self._insert_event(
                conn,
                "rollout_started",
                model,
                candidate_version,
                f"{strategy} rollout of version {candidate_version} against "
                f"{stable_version}: {share:g}% of traffic" + (f" ({reason})" if reason else ""),
                {
                    "rollout": rollout.id,
                    "strategy": strategy,
                    "stable": stable_version,
                    "candidate": candidate_version,
                    "steps": list(steps),
                    "share": share,
                    "settings": settings,
                    **(evidence or {}),
                },
                actor,
            )
            return rollout

    def _latest_rollout(
        self, conn: Connection, model: str, env: str, at: datetime | None = None
    ) -> Rollout | None:
        q = sa.select(t.rollouts).where(t.rollouts.c.model == model, t.rollouts.c.env == env)
        if at is not None:
            q = q.where(t.rollouts.c.started <= utc(at))
        row = conn.execute(q.order_by(t.rollouts.c.id.desc()).limit(1)).mappings().first()
        return None if row is None else _rollout(row)

    def find_rollout(
        self, model: str, env: str = "production", *, at: datetime | None = None
    ) -> Rollout | None:
        """The newest rollout of (model, env), running or finished; with `at`, the newest
        one started at or before `at` (as it is now: its `finished` may be after `at`)."""
        with self._read() as conn:
            return self._latest_rollout(conn, model, env, at)

    def find_running_rollout(self, model: str, env: str = "production") -> Rollout | None:
        found = self.find_rollout(model, env)
        return found if found is not None and found.running else None

    def find_routing(
        self, model: str, env: str = "production"
    ) -> tuple[Deployment | None, Rollout | None]:
        """What servers route by: the current deployment and the running rollout, read in
        one connection."""
        with self._read() as conn:
            rollout = self._latest_rollout(conn, model, env)
            return (
                self._current_deployment(conn, model, env),
                rollout if rollout is not None and rollout.running else None,
            )

    def _cas(self, conn: Connection, rollout: Rollout, **values: Any) -> bool:
        res = conn.execute(
            t.rollouts.update()
            .where(
                t.rollouts.c.id == rollout.id,
                t.rollouts.c.step == rollout.step,
                t.rollouts.c.status == "running",
            )
            .values(**values)
        )
        return res.rowcount == 1

    def advance_rollout(
        self, rollout: Rollout, *, share: float, actor: str, summary: str, analysis: Evidence
    ) -> Rollout | None:
        """Move a running rollout from its current step to the next, with the analysis that
        passed it; None if another process moved or finished it first."""
        now = self.now()
        ev = jsonable(analysis)
        with self._tx() as conn:
            if not self._cas(
                conn,
                rollout,
                step=rollout.step + 1,
                share=share,
                step_started=now,
                analysis=ev,
                analysed=now,
            ):
                return None
            self._insert_event(
                conn,
                "rollout_advanced",
                rollout.model,
                rollout.candidate_version,
                summary,
                {"rollout": rollout.id, "step": rollout.step + 1, "share": share, "analysis": ev},
                actor,
            )
        return self.get_rollout(rollout.id)

    def finish_rollout(
        self,
        rollout: Rollout,
        *,
        status: str,
        actor: str,
        summary: str,
        evidence: Evidence,
        event_kind: str,
        promote: bool = False,
    ) -> Rollout | None:
        """End a running rollout (promoted, rolled_back or aborted) with its event; with
        `promote`, the candidate becomes the deployment in the same transaction. None if
        another process changed the rollout first."""
        now = self.now()
        ev = jsonable(evidence)
        try:
            return self._finish_rollout(
                rollout, now, ev, status, actor, summary, event_kind, promote
            )
        except sa.exc.IntegrityError:  # the revision constraint: see deployments.py
            raise self._lost_race(rollout.model, rollout.env, rollout.candidate_version) from None

    def _finish_rollout(
        self,
        rollout: Rollout,
        now: datetime,
        ev: Any,
        status: str,
        actor: str,
        summary: str,
        event_kind: str,
        promote: bool,
    ) -> Rollout | None:
        with self._tx() as conn:
            self._serialize(conn, rollout.model)
            if not self._cas(
                conn,
                rollout,
                status=status,
                finished=now,
                share=100.0 if promote else 0.0,
                analysis=ev.get("analysis") or rollout.analysis,
                analysed=now,
            ):
                return None
            detail = {
                "rollout": rollout.id,
                "strategy": rollout.strategy,
                "stable": rollout.stable_version,
                "candidate": rollout.candidate_version,
                "step": rollout.step,
                **ev,
            }
            if promote:
                self._insert_deployment(
                    conn,
                    rollout.model,
                    rollout.candidate_version,
                    rollout.env,
                    rollout.strategy,
                    summary,
                    actor,
                    event_kind,
                    detail,
                )
            else:
                self._insert_event(
                    conn,
                    event_kind,
                    rollout.model,
                    rollout.candidate_version,
                    summary,
                    detail,
                    actor,
                )
        return self.get_rollout(rollout.id)

    def save_analysis(self, rollout: Rollout, analysis: Evidence) -> None:
        """Keep the latest analysis of a running step (state, not history: transitions
        carry their analysis in their events)."""
        with self._tx() as conn:
            self._cas(conn, rollout, analysis=jsonable(analysis), analysed=self.now())

    def get_rollout(self, rollout_id: int) -> Rollout:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(t.rollouts).where(t.rollouts.c.id == rollout_id))
                .mappings()
                .one()
            )
        return _rollout(row)

    # ---- serving statistics -----------------------------------------------------------
    def add_serve_stats(
        self, model: str, env: str, replica: str, rows: Sequence[ServeStat]
    ) -> None:
        """Append one replica's counts since its previous flush."""
        if not rows:
            return
        now = self.now()
        with self._tx() as conn:
            conn.execute(
                t.serve_stats.insert(),
                [
                    dict(
                        ts=now,
                        model=model,
                        env=env,
                        replica=replica,
                        version=r.version,
                        route=r.route,
                        requests=r.requests,
                        errors=r.errors,
                        latency=r.latency,
                    )
                    for r in rows
                ],
            )

    def list_serving(
        self, model: str, env: str = "production", *, since: datetime
    ) -> list[ReplicaServing]:
        """What each replica served (per route) in its newest `serve_stats` row at or
        after `since`."""
        c = t.serve_stats.c
        with self._read() as conn:
            rows = conn.execute(
                sa.select(c.replica, c.route, c.version, c.ts)
                .where(c.model == model, c.env == env, c.ts >= since)
                .order_by(c.ts, c.id)
            ).all()
        return newest_per_replica([(r, ro, v, aware(ts)) for r, ro, v, ts in rows])

    def sum_serve_stats(
        self, model: str, since: datetime, env: str = "production"
    ) -> dict[tuple[str, str], ServeStat]:
        """Counts per (version, route) flushed at or after `since`, over every replica."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(
                    t.serve_stats.c.version,
                    t.serve_stats.c.route,
                    t.serve_stats.c.requests,
                    t.serve_stats.c.errors,
                    t.serve_stats.c.latency,
                ).where(
                    t.serve_stats.c.model == model,
                    t.serve_stats.c.env == env,
                    t.serve_stats.c.ts >= since,
                )
            ).all()
        out: dict[tuple[str, str], ServeStat] = {}
        for version, route, requests, errors, hist in rows:
            prev = out.get((version, route))
            if prev is None:
                out[(version, route)] = ServeStat(version, route, requests, errors, list(hist))
            else:
                out[(version, route)] = ServeStat(
                    version,
                    route,
                    prev.requests + requests,
                    prev.errors + errors,
                    latency.merge(prev.latency, hist),
                )
        return out


def _rollout(row: Any) -> Rollout:
    data = dict(row)
    for key in ("started", "step_started", "finished", "analysed"):
        data[key] = aware(data[key])
    return Rollout(**data)
