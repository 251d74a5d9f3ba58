"""Monitor results in the ops store (a mixin of `OpsStore`).

The store keeps what the monitor computed — the window's numbers, its summary, the
summary's digest — and the events the monitor derived from it (`opsloop.monitor.events`),
in one transaction. What drift or degradation means is not decided here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from opsloop.core.digest import digest
from opsloop.store import schema as t
from opsloop.store._util import aware, jsonable
from opsloop.store.history import MonitorDay, day_queries, days_from_rows
from opsloop.store.ports import MonitoringRepository
from opsloop.store.records import MonitorResult, NewEvent, NewMonitorResult
from opsloop.store.unit import UnitOfWork, new_id


class MonitoringQueries(UnitOfWork, MonitoringRepository):
    def record_monitor(
        self,
        result: NewMonitorResult,
        events: Sequence[NewEvent] = (),
        *,
        replaces: Sequence[int] = (),
    ) -> MonitorResult:
        """Store a result and its events in one transaction; each event's evidence begins
        with the new result's `id`. `replaces`: ids of results of the same window that this
        one supersedes (a re-run backfill); they are deleted in the same transaction, their
        events stay in the audit log."""
        values: dict[str, Any] = {f.name: getattr(result, f.name) for f in fields(result)}
        values["summary"] = jsonable(result.summary)
        values["digest"] = jsonable(result.digest)
        with self._tx() as conn:
            if replaces:
                conn.execute(
                    t.monitor_results.delete().where(
                        t.monitor_results.c.model == result.model,
                        t.monitor_results.c.id.in_(list(replaces)),
                    )
                )
            # parameters apart from the statement: one compiled INSERT, cached
            res = conn.execute(t.monitor_results.insert(), values)
            stored = _monitor_result({**values, "id": new_id(res)})
            self._insert_events(conn, events, record_id=stored.id)
            return stored

    def list_monitor(self, model: str, *, limit: int = 100) -> list[MonitorResult]:
        """Monitor results, oldest first."""
        with self._read() as conn:
            rows = list(
                conn.execute(
                    sa.select(t.monitor_results)
                    .where(t.monitor_results.c.model == model)
                    .order_by(t.monitor_results.c.id.desc())
                    .limit(limit)
                ).mappings()
            )
        return [_monitor_result(r) for r in reversed(rows)]

    def find_last_monitor(self, model: str) -> MonitorResult | None:
        results = self.list_monitor(model, limit=1)
        return results[-1] if results else None

    def find_monitor(self, model: str, result_id: int) -> MonitorResult | None:
        """One result by id (None: no such result of `model`)."""
        c = t.monitor_results.c
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(t.monitor_results).where(c.model == model, c.id == result_id)
                )
                .mappings()
                .first()
            )
        return None if row is None else _monitor_result(row)

    def list_monitor_windows(
        self,
        model: str,
        *,
        version: str | None = None,
        limit: int = 100,
        end_before: datetime | None = None,
        start: datetime | None = None,
        digests: bool = False,
    ) -> list[MonitorResult]:
        """The `limit` latest windows by window end (of one version; ending before
        `end_before`; starting exactly at `start`), oldest window first: the history a
        report charts (a backfill may store old windows after newer ones). With `digests`,
        each result's `summary` is its stored digest (`opsloop.core.digest`) — much less
        to read for long histories — computed here for results stored before digests
        existed."""
        c = t.monitor_results.c
        columns = (
            [col for col in t.monitor_results.c if col.name != "summary"]
            if digests
            else [t.monitor_results]
        )
        query = sa.select(*columns).where(c.model == model)
        if version is not None:
            query = query.where(c.version == version)
        if end_before is not None:
            query = query.where(c.window_end < end_before)
        if start is not None:
            query = query.where(c.window_start == start)
        with self._read() as conn:
            rows = [
                dict(r)
                for r in conn.execute(
                    query.order_by(c.window_end.desc(), c.id.desc()).limit(limit)
                ).mappings()
            ]
            missing = [r["id"] for r in rows if digests and r["digest"] is None]
            if digests and missing:  # stored before digests existed
                found = dict(
                    conn.execute(sa.select(c.id, c.summary).where(c.id.in_(missing))).tuples().all()
                )
                for r in rows:
                    if r["id"] in found:
                        r["digest"] = digest(found[r["id"]])
        if digests:
            for r in rows:
                r["summary"] = r["digest"]
        return [_monitor_result(r) for r in reversed(rows)]

    def list_monitor_days(
        self,
        model: str,
        *,
        version: str | None = None,
        limit: int = 100,
        end_before: datetime | None = None,
    ) -> list[MonitorDay]:
        """The `limit` latest windows (as `list_monitor_windows` picks them) aggregated per
        UTC day in SQL (`opsloop.store.history`), oldest day first."""
        totals, features, params = day_queries(
            self.engine.dialect.name, model, version=version, limit=limit, end_before=end_before
        )
        with self._read() as conn:
            rows = [dict(r) for r in conn.exec_driver_sql(totals, tuple(params)).mappings()]
            found = [dict(r) for r in conn.exec_driver_sql(features, tuple(params)).mappings()]
        return days_from_rows(rows, found)

    def find_previous_monitor(
        self, model: str, version: str | None, window_end: datetime
    ) -> MonitorResult | None:
        """The result of the same model and version whose window ends last before
        `window_end` (the window a new result is compared with)."""
        found = self.list_monitor_windows(model, version=version, limit=1, end_before=window_end)
        return found[-1] if found else None

    def list_monitor_span(
        self, model: str, version: str | None, start: datetime, end: datetime
    ) -> list[MonitorResult]:
        """Every result of `version` whose window ends in [`start`, `end`], oldest window
        end first, each `summary` its digest: what a backfill of that span must know in one
        query (windows already monitored, results it may be compared with)."""
        c = t.monitor_results.c
        columns = [col for col in t.monitor_results.c if col.name != "summary"]
        query = sa.select(*columns).where(
            c.model == model, c.version == version, c.window_end >= start, c.window_end <= end
        )
        with self._read() as conn:
            rows = [dict(r) for r in conn.execute(query.order_by(c.window_end, c.id)).mappings()]
        for r in rows:
            r["summary"] = r["digest"] if r["digest"] is not None else {}
        return [_monitor_result(r) for r in rows]

    def list_monitor_window(
        self, model: str, version: str | None, start: datetime, end: datetime
    ) -> list[MonitorResult]:
        """Results of exactly this window and version (a backfill's idempotency check)."""
        return [
            r
            for r in self.list_monitor_windows(model, version=version, limit=100, start=start)
            if r.window_end == end
        ]


def _monitor_result(row: Mapping[Any, Any]) -> MonitorResult:
    data = dict(row)
    data.pop("digest", None)
    for key in ("ts", "window_start", "window_end"):
        data[key] = aware(data[key])
    return MonitorResult(**data)
