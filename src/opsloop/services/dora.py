"""DORA metrics per model and overall for a period, from the ops store's history alone:
deployment frequency, lead time for changes (data cut-off → promoted, trigger → promoted),
change-failure rate and time to restore. The definitions are `dora_models.DEFINITIONS`
(also in docs/dora.md); `opsloop dora`, `GET /api/dora` and the dashboard call
`build_dora`.

Every read is bounded and indexed (`(model, kind, ts)` on events): per model, the period's
deployment events, the model's `trained` and `trigger_fired` events up to the period's end,
the deployment current at the period's start, and per stable version in the period the
first breach of each kind (index seeks: a year of breached hourly windows costs nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from opsloop.errors import InvalidInputError
from opsloop.services.dora_models import (
    DEFINITIONS,
    ChangeItem,
    DoraFigures,
    DoraView,
    IncidentItem,
    ModelDora,
    PromotionItem,
    Spread,
)

if TYPE_CHECKING:
    from opsloop.store.ports import StoreReads
    from opsloop.store.records import Event

DEPLOY_KINDS = ("promoted", "rolled_back", "rollout_started", "rollout_aborted", "gate_failed")
BREACH_KINDS = (
    "drift_detected",
    "performance_degraded",
    "performance_estimated_degraded",
    "quality_failed",
)
HISTORY_LIMIT = 10_000  # deployment events, trainings, firings per model


@dataclass(frozen=True)
class History:
    """What the figures of one model are computed from (`read_history`)."""

    model: str
    deploys: list[Event]  # DEPLOY_KINDS in the period, oldest first
    breaches: list[Event]  # the first breach of each stable version's time in the period
    trained: list[Event]  # up to the period's end
    fired: list[Event]  # trigger_fired up to the period's end
    serving: str | None  # the stable version at the period's start
    truncated: bool = False


def read_history(store: StoreReads, model: str, since: datetime, until: datetime) -> History:
    deploys = store.list_events(
        model, kinds=DEPLOY_KINDS, since=since, until=until, limit=HISTORY_LIMIT
    )
    trained = store.list_events(model, kinds=["trained"], until=until, limit=HISTORY_LIMIT)
    fired = store.list_events(model, kinds=["trigger_fired"], until=until, limit=HISTORY_LIMIT)
    current = store.find_deployment(model, at=since)
    serving = None if current is None else current.version
    return History(
        model=model,
        deploys=deploys,
        breaches=_first_breaches(store, model, deploys, serving, since, until),
        trained=trained,
        fired=fired,
        serving=serving,
        truncated=len(deploys) >= HISTORY_LIMIT,
    )


def _first_breaches(
    store: StoreReads,
    model: str,
    deploys: list[Event],
    serving: str | None,
    since: datetime,
    until: datetime,
) -> list[Event]:
    """The first breach of the serving version between each change of the stable version
    and the next (later ones belong to the same incident, and a late window of a version
    already replaced is none of the deployment's): a few index seeks per model, however
    many windows breached."""
    found: list[Event] = []
    start = since
    for change in [*(e for e in deploys if _stable_change(e)), None]:
        end = until + timedelta(microseconds=1) if change is None else change.ts
        if serving is not None:
            firsts = [
                store.find_first_event(model, kind, since=start, before=end, version=serving)
                for kind in BREACH_KINDS
            ]
            first = min((f for f in firsts if f), key=lambda e: (e.ts, e.id), default=None)
            if first is not None:
                found.append(first)
        if change is not None:
            start, serving = change.ts, change.version
    return found


def build_dora(
    store: StoreReads, models: list[str], *, since: datetime, until: datetime
) -> DoraView:
    """The figures of each of `models` and of all of them together over [since, until]."""
    if until <= since:
        raise InvalidInputError(
            "the DORA period is empty",
            expected="--since before the period's end",
            got=f"since {since.isoformat()}, until {until.isoformat()}",
            fix="give an earlier --since, such as 90d",
        )
    days = (until - since).total_seconds() / 86_400
    per_model = [model_dora(read_history(store, m, since, until), days) for m in models]
    return DoraView(
        since=since.isoformat(),
        until=until.isoformat(),
        days=days,
        definitions=DEFINITIONS,
        overall=figures(
            [p for m in per_model for p in m.promotions],
            [c for m in per_model for c in m.changes],
            [i for m in per_model for i in m.incidents],
            sum(m.figures.gate_failures for m in per_model),
            days,
        ),
        models=per_model,
    )


def model_dora(h: History, days: float) -> ModelDora:
    promotions = [promotion_item(e, h) for e in h.deploys if e.kind == "promoted"]
    changes = _changes(h.deploys)
    incidents = _incidents(h, changes)
    gate_failures = sum(1 for e in h.deploys if e.kind == "gate_failed")
    return ModelDora(
        model=h.model,
        figures=figures(promotions, [c.item for c in changes], incidents, gate_failures, days),
        promotions=promotions,
        changes=[c.item for c in changes],
        incidents=incidents,
        truncated=h.truncated,
    )


def figures(
    promotions: list[PromotionItem],
    changes: list[ChangeItem],
    incidents: list[IncidentItem],
    gate_failures: int,
    days: float,
) -> DoraFigures:
    failed = sum(1 for c in changes if c.failed)
    return DoraFigures(
        promotions=len(promotions),
        per_day=len(promotions) / days,
        per_week=len(promotions) / days * 7,
        lead_time_data=spread([p.lead_time_data for p in promotions]),
        lead_time_trigger=spread([p.lead_time_trigger for p in promotions]),
        changes=len(changes),
        failed_changes=failed,
        change_failure_rate=failed / len(changes) if changes else None,
        incidents=len(incidents),
        open_incidents=sum(1 for i in incidents if i.restored is None),
        time_to_restore=spread([i.duration for i in incidents]),
        gate_failures=gate_failures,
    )


def spread(values: list[float | None]) -> Spread:
    known = sorted(v for v in values if v is not None)
    return Spread(count=len(known), median=quantile(known, 0.5), p90=quantile(known, 0.9))


def quantile(ordered: list[float], q: float) -> float | None:
    """The `q` quantile of sorted values, interpolated linearly between ranks (NumPy's
    default); None without values."""
    if not ordered:
        return None
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# ---- lead time ---------------------------------------------------------------------------


def promotion_item(e: Event, h: History) -> PromotionItem:
    trained = next((t for t in reversed(h.trained) if t.version == e.version), None)
    cutoff = None if trained is None else data_cutoff(trained.evidence)
    trigger = None if trained is None else trained.evidence.get("trigger")
    fired = _firing(h.fired, trigger) if isinstance(trigger, str) else None
    return PromotionItem(
        ts=e.ts.isoformat(),
        version=e.version,
        strategy=_str(e.evidence.get("strategy")),
        data_cutoff=None if cutoff is None else cutoff.isoformat(),
        lead_time_data=None if cutoff is None else (e.ts - cutoff).total_seconds(),
        trigger=trigger if isinstance(trigger, str) else None,
        trigger_fired=None if fired is None else fired.ts.isoformat(),
        lead_time_trigger=None if fired is None else (e.ts - fired.ts).total_seconds(),
    )


def data_cutoff(evidence: dict[str, Any]) -> datetime | None:
    """The newest event time of a version's training data, else its window's end (from
    its `trained` event's evidence)."""
    from opsloop.store._util import aware

    span = evidence.get("event_time")
    newest = span.get("max") if isinstance(span, dict) else None
    if isinstance(newest, str):
        try:
            return aware(datetime.fromisoformat(newest))
        except ValueError:
            pass
    window = evidence.get("window")
    if isinstance(window, str):
        from opsloop.data.window import Window

        try:
            return Window.from_key(window).end
        except ValueError:
            return None
    return None


def _firing(fired: list[Event], trigger: str) -> Event | None:
    """The `trigger_fired` event of a training's trigger (`name:key`, as recorded)."""
    name, sep, key = trigger.partition(":")
    if not sep:
        return None
    return next(
        (
            f
            for f in reversed(fired)
            if f.evidence.get("trigger") == name and str(f.evidence.get("key")) == key
        ),
        None,
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


# ---- changes -----------------------------------------------------------------------------


@dataclass
class _Change:
    start: Event  # the blue-green promotion, or rollout_started
    item: ChangeItem
    end: Event | None = None  # what failed it: the rollback or abort
    promotion: Event | None = None


def _changes(deploys: list[Event]) -> list[_Change]:
    """Each change started in the period, with its outcome by the period's end."""
    changes: list[_Change] = []
    rollouts: dict[object, _Change] = {}
    promoted: list[tuple[Event, _Change | None]] = []  # promotions, newest last
    for e in deploys:
        rollout = e.evidence.get("rollout")
        if e.kind == "rollout_started":
            c = _change(e, _str(e.evidence.get("strategy")) or "canary", rollout)
            rollouts[rollout] = c
            changes.append(c)
        elif e.kind == "promoted" and rollout is None:
            c = _change(e, _str(e.evidence.get("strategy")) or "blue_green", None)
            changes.append(c)
            promoted.append((e, c))
        elif e.kind == "promoted":
            c_or_none = rollouts.get(rollout)
            if c_or_none is not None:
                _end(c_or_none, e, "promoted", failed=False)
            promoted.append((e, c_or_none))
        elif e.kind == "rollout_aborted" and rollout in rollouts:
            superseded = e.evidence.get("superseded_by") is not None
            _end(rollouts[rollout], e, "superseded" if superseded else "aborted", not superseded)
        elif e.kind == "rolled_back" and rollout is not None:
            if rollout in rollouts:
                _end(rollouts[rollout], e, "rolled_back", failed=True)
        elif e.kind == "rolled_back":  # the deployment back from the promoted version
            gone = str(e.evidence.get("from_version"))
            last = next((c for p, c in reversed(promoted) if p.version == gone), None)
            if last is not None:
                _end(last, e, "rolled_back", failed=True)
    return changes


def _change(e: Event, strategy: str, rollout: object) -> _Change:
    return _Change(
        start=e,
        item=ChangeItem(
            ts=e.ts.isoformat(),
            version=e.version,
            strategy=strategy,
            rollout=rollout if isinstance(rollout, int) else None,
            outcome="promoted" if e.kind == "promoted" else "running",
            failed=False,
            ended=None,
        ),
    )


def _end(c: _Change, e: Event, outcome: str, failed: bool) -> None:
    c.item = c.item.model_copy(
        update={"outcome": outcome, "failed": failed, "ended": e.ts.isoformat()}
    )
    if failed:
        c.end = e


# ---- incidents ---------------------------------------------------------------------------


@dataclass
class _Opener:
    event: Event  # where the incident begins
    cause: str
    restore: Event | None  # what ends it (None: still open)


@dataclass
class _Incident:
    first: _Opener
    restore: Event | None


def _incidents(h: History, changes: list[_Change]) -> list[IncidentItem]:
    restores = [e for e in h.deploys if _stable_change(e)]
    openers = [
        _Opener(b, b.kind, next((r for r in restores if r.id > b.id), None)) for b in h.breaches
    ]
    for c in changes:
        if c.end is not None:
            cause = "failed_rollout" if c.item.rollout is not None else "failed_promotion"
            openers.append(_Opener(c.start, cause, c.end))
    openers.sort(key=lambda o: o.event.id)
    incidents: list[_Incident] = []
    for o in openers:
        current = incidents[-1] if incidents else None
        if current is not None and (current.restore is None or o.event.id < current.restore.id):
            if current.restore is not None and (
                o.restore is None or o.restore.id > current.restore.id
            ):
                current.restore = o.restore
            continue
        incidents.append(_Incident(o, o.restore))
    return [
        IncidentItem(
            start=i.first.event.ts.isoformat(),
            cause=i.first.cause,
            version=i.first.event.version,
            restored=None if i.restore is None else i.restore.ts.isoformat(),
            restored_by=None if i.restore is None else i.restore.kind,
            duration=None
            if i.restore is None
            else (i.restore.ts - i.first.event.ts).total_seconds(),
        )
        for i in incidents
    ]


def _stable_change(e: Event) -> bool:
    """A promotion or a rollback of the deployment: another version is stable after it."""
    return e.kind == "promoted" or (e.kind == "rolled_back" and e.evidence.get("rollout") is None)
