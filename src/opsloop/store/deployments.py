"""Deployment history in the ops store (a mixin of `OpsStore`): one row per revision of
(model, env); the newest is current. A deployment and its event are one transaction.

The ops store is the single commit point of a promotion: `record_deployment` is a
compare-and-set on the current revision under the model's write lock (`_serialize`), so of
two concurrent promotions from one revision exactly one commits and the other gets a
`StateError` naming the winner — never an IntegrityError. The unique (model, env,
revision) constraint stays as the last line of defence and is translated the same way.
"""

from __future__ import annotations

from datetime import datetime
from types import EllipsisType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsloop.errors import StateError
from opsloop.store import schema as t
from opsloop.store._util import aware, utc
from opsloop.store.ports import DeploymentRepository
from opsloop.store.records import Deployment, Evidence
from opsloop.store.unit import UnitOfWork, new_id


class DeploymentQueries(UnitOfWork, DeploymentRepository):
    def record_deployment(
        self,
        model: str,
        version: str,
        *,
        env: str = "production",
        strategy: str = "blue_green",
        reason: str,
        actor: str = "opsloop",
        event_kind: str = "promoted",
        evidence: Evidence | None = None,
        expected_revision: int | EllipsisType | None = ...,
    ) -> Deployment:
        """Make `version` current for (model, env) and write the event, atomically.

        `expected_revision` is the compare-and-set: the revision the caller decided on
        (None: nothing deployed yet); if another writer committed since, a StateError names
        it and nothing is written. `...` appends to whatever is current."""
        try:
            with self._tx() as conn:
                self._serialize(conn, model)
                current = self._current_deployment(conn, model, env)
                found = None if current is None else current.revision
                if expected_revision is not ... and found != expected_revision:
                    assert current is not None  # found differs from the expected revision
                    raise revision_conflict(current, version, expected_revision)
                return self._insert_deployment(
                    conn, model, version, env, strategy, reason, actor, event_kind, evidence
                )
        except sa.exc.IntegrityError:
            raise self._lost_race(model, env, version) from None

    def _lost_race(self, model: str, env: str, version: str) -> StateError:
        """The error for a writer whose insert the revision constraint refused."""
        winner = self.find_deployment(model, env)
        if winner is None:  # pragma: no cover - a constraint refused nothing we can see
            return StateError(f"promoting version {version} of {model!r} conflicted; retry")
        return revision_conflict(winner, version, winner.revision - 1)

    def _insert_deployment(
        self,
        conn: Connection,
        model: str,
        version: str,
        env: str,
        strategy: str,
        reason: str,
        actor: str,
        event_kind: str,
        evidence: Evidence | None,
    ) -> Deployment:
        current = self._current_deployment(conn, model, env)
        revision = 1 if current is None else current.revision + 1
        previous = None if current is None else current.version
        ts = self.now()
        res = conn.execute(
            t.deployments.insert().values(
                ts=ts,
                model=model,
                env=env,
                revision=revision,
                version=version,
                previous_version=previous,
                strategy=strategy,
                reason=reason,
                actor=actor,
            )
        )
        dep = Deployment(
            id=new_id(res),
            ts=ts,
            model=model,
            env=env,
            revision=revision,
            version=version,
            previous_version=previous,
            strategy=strategy,
            reason=reason,
            actor=actor,
        )
        ev = {
            "revision": revision,
            "previous_version": previous,
            "env": env,
            "strategy": strategy,
            **(evidence or {}),
        }
        self._insert_event(conn, event_kind, model, version, reason, ev, actor)
        return dep

    def _current_deployment(
        self, conn: Connection, model: str, env: str, at: datetime | None = None
    ) -> Deployment | None:
        q = sa.select(t.deployments).where(
            t.deployments.c.model == model, t.deployments.c.env == env
        )
        if at is not None:
            q = q.where(t.deployments.c.ts <= utc(at))
        row = conn.execute(q.order_by(t.deployments.c.revision.desc()).limit(1)).mappings().first()
        return None if row is None else _deployment(row)

    def find_deployment(
        self, model: str, env: str = "production", *, at: datetime | None = None
    ) -> Deployment | None:
        """The current deployment, or with `at` the one current then (the newest revision
        written at or before `at`)."""
        with self._read() as conn:
            return self._current_deployment(conn, model, env, at)

    def list_deployed_models(self) -> list[str]:
        """Every model with a deployment in any environment, sorted."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.deployments.c.model).distinct().order_by(t.deployments.c.model)
            )
            return [r[0] for r in rows]

    def list_deployments(self, model: str, env: str = "production") -> list[Deployment]:
        """Deployment history, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.deployments)
                .where(t.deployments.c.model == model, t.deployments.c.env == env)
                .order_by(t.deployments.c.revision)
            ).mappings()
            return [_deployment(r) for r in rows]


def revision_conflict(winner: Deployment, version: str, expected: int | None) -> StateError:
    """What a losing writer is told: who won, with which version, at which revision."""
    since = "no deployment" if expected is None else f"revision {expected}"
    return StateError(
        f"another change to {winner.model!r} committed first: revision {winner.revision} "
        f"deployed version {winner.version} ({winner.strategy}, by {winner.actor} at "
        f"{winner.ts:%Y-%m-%d %H:%M:%S} UTC, reason: {winner.reason or 'none'}), so this "
        f"change to version {version}, decided on {since}, was not applied",
        fix="check `opsloop status` and retry if the change is still wanted",
    )


def _deployment(row: Any) -> Deployment:
    return Deployment(**{**row, "ts": aware(row["ts"])})
