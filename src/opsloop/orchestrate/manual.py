"""Retraining a person asked for: the `manual` trigger.

A request is a `retrain_requested` event (who, why); its event id is the request id. The
agent fires the `manual` trigger once per request (keyed by the id, so a request fires at
most once whatever the number of agents or ticks) at its next tick and trains. A request
waits while a training of the model runs (one at a time) but not for `retrain.cooldown`:
a person asked. `retrain_now` does the same in the caller's process at once. A request may
name its data window (`opsloop retrain --from/--to/--as-of`, the API's `from`/`to`/`as_of`):
kept in the event's evidence and in the firing's, and trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsloop.data.window import WindowRequest
from opsloop.errors import NotFoundError, StateError

if TYPE_CHECKING:
    from opsloop.orchestrate.loop import TrainOutcome
    from opsloop.runtime import Runtime
    from opsloop.stages import Progress
    from opsloop.store.ports import StoreReads
    from opsloop.store.records import PipelineRun, TriggerFiring
    from opsloop.store.sql import OpsStore

REQUESTED = "retrain_requested"
TRIGGER = "manual"


@dataclass(frozen=True)
class RetrainRequest:
    id: int
    ts: datetime
    actor: str
    reason: str
    status: str  # pending | fired
    fired: datetime | None = None
    run: int | None = None
    run_status: str | None = None
    window: dict[str, str] | None = None  # the data window asked for (WindowRequest.to_dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("ts", "fired"):
            data[key] = None if data[key] is None else data[key].isoformat()
        return data


def request_retrain(
    store: OpsStore,
    model: str,
    *,
    actor: str,
    reason: str = "",
    window: WindowRequest | None = None,
) -> RetrainRequest:
    """Record a request for the agent; it fires at the agent's next tick."""
    reason = reason.strip() or "no reason given"
    asked = None if window is None else window.to_dict() or None
    evidence: dict[str, Any] = {"reason": reason, "requested_by": actor}
    if asked:
        evidence["window"] = asked
    event = store.add_event(
        REQUESTED,
        model,
        actor=actor,
        summary=f"retraining requested by {actor}: {reason}"
        + ("" if not asked else f" (window {_text(asked)})"),
        evidence=evidence,
    )
    return RetrainRequest(event.id, event.ts, actor, reason, "pending", window=asked)


def _text(asked: dict[str, str]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in asked.items())


def request_window(evidence: dict[str, Any]) -> WindowRequest | None:
    """The data window a request (or its firing) asked for, if any."""
    asked = evidence.get("window")
    return WindowRequest.from_dict(asked) if isinstance(asked, dict) and asked else None


def list_requests(store: StoreReads, model: str, *, limit: int = 50) -> list[RetrainRequest]:
    """The newest `limit` requests, oldest first, with whether they fired and the run."""
    events = store.list_events(model, kinds=[REQUESTED], limit=limit)
    firings = {f.key: f for f in store.list_firings(model) if f.trigger == TRIGGER}
    runs = [r for r in store.list_runs(model, limit=200) if r.pipeline == "train"]
    found = []
    for e in events:
        firing = firings.get(str(e.id))
        run = None if firing is None else _run_of(firing, runs)
        found.append(
            RetrainRequest(
                e.id,
                e.ts,
                e.actor,
                str(e.evidence.get("reason", "")),
                "pending" if firing is None else "fired",
                None if firing is None else firing.ts,
                None if run is None else run.id,
                None if run is None else run.status,
                e.evidence.get("window") or None,
            )
        )
    return found


def _run_of(firing: TriggerFiring, runs: list[PipelineRun]) -> PipelineRun | None:
    """The training that served a firing: the run it started, else the first training
    started after it (one training serves every trigger of its tick)."""
    own = f"{firing.trigger}:{firing.key}"
    exact = next((r for r in runs if r.trigger == own), None)
    if exact is not None:
        return exact
    after = [r for r in runs if r.started >= firing.ts]
    return min(after, key=lambda r: r.id) if after else None


def get_request(store: StoreReads, model: str, request_id: int) -> RetrainRequest:
    found = next(
        (r for r in list_requests(store, model, limit=100_000) if r.id == request_id), None
    )
    if found is None:
        raise NotFoundError(
            f"no retraining request {request_id} for {model!r}",
            fix=f"list the requests with GET /api/models/{model}/retrain",
        )
    return found


def manual_candidates(rt: Runtime) -> list[tuple[str, str, dict[str, Any]]]:
    """(trigger, key, evidence) of every pending request, oldest first."""
    return [
        (TRIGGER, str(r.id), _evidence(r))
        for r in list_requests(rt.store, rt.model, limit=1000)
        if r.status == "pending"
    ]


def _evidence(r: RetrainRequest) -> dict[str, Any]:
    found = {"request": r.id, "requested_by": r.actor, "reason": r.reason, "requested": r.ts}
    return found if not r.window else {**found, "window": r.window}


def retrain_now(
    rt: Runtime,
    *,
    actor: str,
    reason: str = "",
    progress: Progress | None = None,
    window: WindowRequest | None = None,
) -> tuple[RetrainRequest, TrainOutcome]:
    """Record a request, fire it and train in this process now; StateError while a training
    of the model runs."""
    from opsloop.orchestrate.loop import run_loop
    from opsloop.orchestrate.recovery import busy_training

    busy = busy_training(rt)
    if busy is not None:
        raise StateError(
            f"training run {busy.id} of {rt.model!r} ({busy.trigger}) is still running; one "
            "training per model runs at a time",
            fix="wait for it, or request without --now: the agent then trains after it",
        )
    request = request_retrain(rt.store, rt.model, actor=actor, reason=reason, window=window)
    firing = rt.store.try_fire(rt.model, TRIGGER, str(request.id), _evidence(request))
    if firing is None:
        raise StateError(
            f"an agent picked up retraining request {request.id} first",
            fix="watch it with `opsloop status`",
        )
    outcome = run_loop(rt, window=window, trigger=f"{TRIGGER}:{request.id}", progress=progress)
    return request, outcome
