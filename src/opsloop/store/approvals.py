"""Gate decisions and approvals in the ops store (a mixin of `OpsStore`): both are history
per (model, version), the newest row wins; each is written with its event."""

from __future__ import annotations

from types import EllipsisType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsloop.errors import InvalidInputError, StateError
from opsloop.store import schema as t
from opsloop.store._util import aware, jsonable
from opsloop.store.ports import ApprovalRepository
from opsloop.store.records import APPROVAL_STATUSES, Approval, Evidence, GateDecision
from opsloop.store.unit import UnitOfWork, new_id

_APPROVAL_EVENTS = {"pending": "approval_pending", "approved": "approved", "rejected": "rejected"}


class ApprovalQueries(UnitOfWork, ApprovalRepository):
    # ---- gate decisions -------------------------------------------------------------
    def record_gate(
        self,
        *,
        model: str,
        version: str,
        champion_version: str | None,
        metric: str,
        policy: str,
        margin: float,
        floor: float | None,
        challenger_value: float,
        champion_value: float | None,
        passed: bool,
        reasons: list[str],
        evidence: Evidence | None = None,
        actor: str = "opsloop",
    ) -> GateDecision:
        """Store a decision with its `gate_passed`/`gate_failed` event (the reasons as
        its summary, the decision as its evidence)."""
        diff = None if champion_value is None else challenger_value - champion_value
        ts = self.now()
        ev = jsonable(evidence or {})
        values: dict[str, Any] = dict(
            ts=ts,
            model=model,
            version=version,
            champion_version=champion_version,
            metric=metric,
            policy=policy,
            margin=margin,
            floor=floor,
            challenger_value=challenger_value,
            champion_value=champion_value,
            difference=diff,
            passed=passed,
            reasons=list(reasons),
            evidence=ev,
        )
        with self._tx() as conn:
            res = conn.execute(t.gate_decisions.insert().values(**values))
            decision = GateDecision(id=new_id(res), **values)
            kind = "gate_passed" if passed else "gate_failed"
            summary = "; ".join(reasons)
            self._insert_event(conn, kind, model, version, summary, decision.to_dict(), actor)
            return decision

    def _latest_for_version(self, table: sa.Table, model: str, version: str) -> Any:
        with self._read() as conn:
            return (
                conn.execute(
                    sa.select(table)
                    .where(table.c.model == model, table.c.version == version)
                    .order_by(table.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )

    def find_gate(self, model: str, version: str) -> GateDecision | None:
        row = self._latest_for_version(t.gate_decisions, model, version)
        return None if row is None else GateDecision(**{**row, "ts": aware(row["ts"])})

    # ---- approvals ------------------------------------------------------------------
    def set_approval(
        self,
        model: str,
        version: str,
        status: str,
        *,
        actor: str = "opsloop",
        comment: str = "",
        evidence: Evidence | None = None,
        expected_id: int | EllipsisType | None = ...,
    ) -> Approval:
        """Record an approval status with its event (`approval_pending`, `approved` or
        `rejected`). `expected_id` is the compare-and-set: the id of the newest approval
        of the version the decision was taken on (None: none); if another was recorded
        since, a StateError names it and nothing is written. `...`: no check."""
        if status not in APPROVAL_STATUSES:
            raise InvalidInputError(
                "unknown approval status", expected=" | ".join(APPROVAL_STATUSES), got=repr(status)
            )
        ts = self.now()
        with self._tx() as conn:
            self._serialize(conn, model)
            if expected_id is not ...:
                latest = self._latest_approval(conn, model, version)
                if (None if latest is None else latest.id) != expected_id:
                    assert latest is not None
                    raise StateError(
                        f"another decision on version {version} of {model!r} was recorded "
                        f"first: {latest.status} by {latest.actor} at "
                        f"{latest.ts:%Y-%m-%d %H:%M:%S} UTC ({latest.comment or 'no comment'}), "
                        f"so this {status} decision was not recorded",
                        fix="check `opsloop status` and decide again if still needed",
                    )
            res = conn.execute(
                t.approvals.insert().values(
                    ts=ts,
                    model=model,
                    version=version,
                    status=status,
                    actor=actor,
                    comment=comment,
                )
            )
            summary = comment or f"version {version} {status}"
            self._insert_event(
                conn,
                _APPROVAL_EVENTS[status],
                model,
                version,
                summary,
                {"comment": comment, **(evidence or {})},
                actor,
            )
            return Approval(
                id=new_id(res),
                ts=ts,
                model=model,
                version=version,
                status=status,
                actor=actor,
                comment=comment,
            )

    def _latest_approval(self, conn: Connection, model: str, version: str) -> Approval | None:
        row = (
            conn.execute(
                sa.select(t.approvals)
                .where(t.approvals.c.model == model, t.approvals.c.version == version)
                .order_by(t.approvals.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return None if row is None else Approval(**{**row, "ts": aware(row["ts"])})

    def find_approval(self, model: str, version: str) -> Approval | None:
        row = self._latest_for_version(t.approvals, model, version)
        return None if row is None else Approval(**{**row, "ts": aware(row["ts"])})

    def list_pending(self, model: str) -> list[Approval]:
        with self._read() as conn:
            rows = list(
                conn.execute(
                    sa.select(t.approvals)
                    .where(t.approvals.c.model == model)
                    .order_by(t.approvals.c.id)
                ).mappings()
            )
        latest: dict[str, Approval] = {}
        for row in rows:
            latest[row["version"]] = Approval(**{**row, "ts": aware(row["ts"])})
        return [a for a in latest.values() if a.status == "pending"]
