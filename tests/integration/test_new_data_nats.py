"""The new-data trigger against the real NATS JetStream broker: messages published while
the agent is not reading are kept by the durable consumer, counted once, and fire the
trigger when the rows since the last training reach min_rows (idempotent key = the stream
sequence range, evidence = messages, rows, range); junk messages are recorded, not fatal."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsloop.project import Project
from tinyproject import add_training_data, write_tiny_project

pytestmark = pytest.mark.nats

RETRAIN = "retrain: {on: [drift, performance], training_window: 30d, cooldown: 1h}"


async def _js(url: str, fn):  # type: ignore[no-untyped-def]
    import nats

    nc = await nats.connect(url)
    try:
        return await fn(nc.jetstream())
    finally:
        await nc.close()


def publish(url: str, subject: str, *bodies: bytes) -> None:
    async def go(js):  # type: ignore[no-untyped-def]
        for body in bodies:
            await js.publish(subject, body)

    asyncio.run(_js(url, go))


def consumer_pending(url: str, stream: str, durable: str) -> int:
    async def go(js):  # type: ignore[no-untyped-def]
        info = await js.consumer_info(stream, durable)
        return info.num_pending + info.num_ack_pending

    return int(asyncio.run(_js(url, go)))


@pytest.fixture
def project(tmp_path: Path, nats_url: str) -> Iterator[tuple[Project, str, str]]:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    tag = uuid.uuid4().hex[:8]
    subject, stream = f"test.data.{tag}", f"TEST_NEW_DATA_{tag}"
    root = write_tiny_project(tmp_path / "p")
    text = (
        (root / "opsloop.yaml")
        .read_text()
        .replace(
            RETRAIN,
            (
                "retrain: {on: [new_data], training_window: 30d, cooldown: 0s, new_data: "
                f"{{nats: '{nats_url}', subject: '{subject}', stream: {stream}, min_rows: 1000}}}}"
            ),
        )
    )
    (root / "opsloop.yaml").write_text(text)
    p = Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="tester",
    )
    try:
        yield p, subject, stream
    finally:

        async def drop(js):  # type: ignore[no-untyped-def]
            await js.delete_stream(stream)

        asyncio.run(_js(nats_url, drop))


def test_new_data_fires_once_enough_rows_arrived(project, nats_url: str) -> None:  # type: ignore[no-untyped-def]
    p, subject, stream = project
    p.train()
    first = p.tick()  # creates the stream and the durable consumer; nothing yet
    assert first.fired == [] and any("0 of 1000 rows" in n for n in first.notes)

    publish(
        nats_url, subject, *[json.dumps({"rows": 300, "file": f"b{i}"}).encode() for i in range(3)]
    )
    second = p.tick()
    assert second.fired == [] and any("900 of 1000 rows" in n for n in second.notes)

    # the agent is not reading now: the broker keeps these for its durable consumer
    publish(nats_url, subject, b"not json", json.dumps({"rows": 100}).encode())
    assert consumer_pending(nats_url, stream, "opsloop-tiny") == 2
    add_training_data(p.root)  # the rows the messages announce (else the retrain is skipped)
    third = p.tick()
    (firing,) = third.fired
    assert firing.trigger == "new_data" and firing.key == f"{stream}:1-5"
    assert firing.evidence["messages"] == 4 and firing.evidence["rows"] == 1000
    assert firing.evidence["seq_range"] == [1, 5]
    assert third.trained is not None and third.trained.version == "2"
    assert p.store.list_runs("tiny")[0].trigger == f"new_data:{stream}:1-5"
    (junk,) = p.store.list_events("tiny", kinds=["new_data_invalid"])
    assert junk.evidence["seq"] == 4 and junk.evidence["data"] == "not json"
    assert consumer_pending(nats_url, stream, "opsloop-tiny") == 0  # acked (junk: termed)

    fourth = p.tick()  # the rows before the new training no longer count
    assert fourth.fired == [] and any("0 of 1000 rows" in n for n in fourth.notes)
    assert len(p.store.list_arrivals("tiny")) == 4  # each message recorded once


def test_unreachable_broker_is_a_note_not_a_failure(tmp_path: Path) -> None:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore
    from serve_fixtures import free_port

    root = write_tiny_project(tmp_path / "p")
    text = (
        (root / "opsloop.yaml")
        .read_text()
        .replace(
            RETRAIN,
            (
                "retrain: {on: [new_data], new_data: "
                f"{{nats: 'nats://127.0.0.1:{free_port()}', subject: x.y, min_rows: 10}}}}"
            ),
        )
    )
    (root / "opsloop.yaml").write_text(text)
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine())
    result = p.tick()
    assert result.fired == []
    assert any(n.startswith("new data: cannot read new-data events") for n in result.notes)
