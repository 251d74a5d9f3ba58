"""The `new_data` trigger: new-data events from NATS JetStream.

Producers publish one message per batch of new training data to `retrain.new_data.subject`,
JSON with the number of rows (`{"rows": 250, ...}`; other keys are kept as evidence). Each
agent tick reads what is waiting on a durable pull consumer (`retrain.new_data.durable`), so
the broker keeps every message while the agent is down; each message is recorded in the ops
store's `data_arrivals` (once per stream sequence: a redelivery after a crash between
recording and acking is ignored) and then acknowledged. When the rows that arrived since the
last training started (broker time) reach `min_rows`, the trigger fires, keyed by the
stream-sequence range it covers, with the message count, rows and range as evidence.

The agent creates the stream at its first start when no stream binds the subject; create it
beforehand (`nats stream add`) if producers may publish before the agent first runs —
JetStream keeps only what a stream captures.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsloop.config import NewDataConfig
from opsloop.errors import StateError
from opsloop.runtime import Runtime

if TYPE_CHECKING:
    from opsloop.store.ports import StoreReads

log = logging.getLogger("opsloop.newdata")


class NewDataSourceError(StateError):
    """The new-data broker could not be read."""


@dataclass(frozen=True)
class Message:
    seq: int
    ts: datetime
    data: bytes


def stream_name(rt: Runtime, cfg: NewDataConfig) -> str:
    return model_stream_name(rt.model, cfg)


def model_stream_name(model: str, cfg: NewDataConfig) -> str:
    default = "OPSLOOP_" + "".join(c if c.isalnum() else "_" for c in model).upper()
    return cfg.stream or default + "_NEW_DATA"


def durable_name(rt: Runtime, cfg: NewDataConfig) -> str:
    return cfg.durable or "opsloop-" + "".join(
        c if c.isalnum() or c in "-_" else "_" for c in rt.model
    )


async def _pull(cfg: NewDataConfig, stream: str, durable: str, record: Any) -> int:
    import nats
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.errors import NotFoundError

    async def quiet(exc: Exception) -> None:  # failures surface as NewDataSourceError
        log.debug("nats: %s", exc)

    nc = await nats.connect(
        servers=[s.strip() for s in cfg.nats.split(",")],
        connect_timeout=5,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.5,
        error_cb=quiet,
    )  # 0 would mean "retry forever"
    try:
        js = nc.jetstream(timeout=10)
        try:
            await js.find_stream_name_by_subject(cfg.subject)
        except NotFoundError:
            await js.add_stream(name=stream, subjects=[cfg.subject])
            log.warning("created JetStream stream %s for subject %s", stream, cfg.subject)
        sub = await js.pull_subscribe(cfg.subject, durable=durable)
        handled = 0
        while handled < cfg.batch:
            try:
                msgs = await sub.fetch(min(100, cfg.batch - handled), timeout=1)
            except NatsTimeout:
                break
            for msg in msgs:
                meta = msg.metadata
                if record(Message(meta.sequence.stream, meta.timestamp, msg.data)):
                    await msg.ack()
                else:
                    await msg.term()  # junk: never redeliver
                handled += 1
        return handled
    finally:
        await nc.close()


def pull_new_data(rt: Runtime) -> int:
    """Read waiting messages into `data_arrivals` and ack them; the number read."""
    cfg = rt.config.retrain.new_data
    assert cfg is not None
    stream = stream_name(rt, cfg)

    def record(msg: Message) -> bool:
        try:
            payload = json.loads(msg.data)
            rows = int(payload["rows"])
            if rows < 0:
                raise ValueError("negative rows")
        except (ValueError, TypeError, KeyError) as exc:
            rt.store.add_event(
                "new_data_invalid",
                rt.model,
                summary=f"new-data message {msg.seq} on {cfg.subject} ignored: expected JSON "
                f'like {{"rows": 250}} ({type(exc).__name__}: {exc})',
                evidence={
                    "stream": stream,
                    "seq": msg.seq,
                    "data": msg.data[:200].decode("utf-8", "replace"),
                },
            )
            return False
        rt.store.add_arrival(
            rt.model, source=stream, seq=msg.seq, ts=msg.ts, rows=rows, payload=payload
        )
        return True

    try:
        return asyncio.run(_pull(cfg, stream, durable_name(rt, cfg), record))
    except (OSError, TimeoutError) as exc:
        raise NewDataSourceError(
            f"cannot read new-data events from {cfg.nats}: {type(exc).__name__}: {exc}",
            fix="check that NATS (with JetStream) runs there, or retrain.new_data.nats",
        ) from None
    except Exception as exc:
        from nats.errors import Error as NatsError
        from nats.errors import NoServersError

        if isinstance(exc, NoServersError):
            raise NewDataSourceError(
                f"cannot read new-data events from {cfg.nats}: no server answered",
                fix="check that NATS (with JetStream) runs there, or retrain.new_data.nats",
            ) from None
        if isinstance(exc, NatsError):
            raise NewDataSourceError(
                f"NATS at {cfg.nats}: {type(exc).__name__}: {exc}",
                fix="check JetStream is enabled and the stream/consumer "
                "settings in retrain.new_data",
            ) from None
        raise


def last_training_start(store: StoreReads, model: str) -> datetime | None:
    """When the newest training run started (None before the first)."""
    last = next((r for r in store.list_runs(model, limit=50) if r.pipeline == "train"), None)
    return None if last is None else last.started


def new_data_candidate(rt: Runtime, notes: list[str]) -> tuple[str, str, dict[str, Any]] | None:
    """(trigger, key, evidence) when enough rows arrived since the last training."""
    cfg = rt.config.retrain.new_data
    assert cfg is not None
    try:
        pull_new_data(rt)
    except NewDataSourceError as exc:  # still judge what was recorded before
        notes.append(f"new data: {exc.what}")
        log.error("%s", exc.message)
    since = last_training_start(rt.store, rt.model)
    arrivals = rt.store.list_arrivals(rt.model, since=since, source=stream_name(rt, cfg))
    rows = sum(a.rows for a in arrivals)
    if rows < cfg.min_rows:
        notes.append(
            f"new data: {rows} of {cfg.min_rows} rows since the last training "
            f"({len(arrivals)} messages)"
        )
        return None
    seqs = [a.seq for a in arrivals]
    source = arrivals[0].source
    return (
        "new_data",
        f"{source}:{min(seqs)}-{max(seqs)}",
        {
            "messages": len(arrivals),
            "rows": rows,
            "min_rows": cfg.min_rows,
            "stream": source,
            "subject": cfg.subject,
            "seq_range": [min(seqs), max(seqs)],
            "since": since,
            "first_ts": arrivals[0].ts,
            "last_ts": arrivals[-1].ts,
        },
    )
