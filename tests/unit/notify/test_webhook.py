"""Webhook notifications against a real local HTTP receiver: Slack-compatible body, each
event once across restarts (a cursor in the ops store), retries with back-off, failures
recorded and never fatal, delivery off the agent's thread."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsloop.errors import ConfigError
from opsloop.notify.dispatch import Dispatcher, notify_pending
from opsloop.project import Project
from receiver import Receiver
from tinyproject import write_tiny_project


def project(tmp_path: Path, url: str, *, events: str = "", store=None) -> Project:  # type: ignore[no-untyped-def]
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    hook = f"{{url: '{url}'{', events: ' + events if events else ''}}}"
    root = write_tiny_project(
        tmp_path / "p", extra_yaml=(f"notify: {{webhooks: [{hook}], retries: 3, backoff: 0.01s}}\n")
    )
    return Project(
        root,
        registry=MemoryRegistry(),
        store=store or OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="tester",
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def wait_until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_events_are_posted_once_across_restarts(tmp_path: Path, receiver: Receiver) -> None:
    p = project(tmp_path, receiver.url)
    p.store.add_event("promoted", "tiny", version="0", summary="before the notifier existed")
    assert notify_pending(p.runtime, may_act=lambda: True) == 0  # the cursor starts here
    p.train()  # trained, registered, gate_passed, approved, promoted
    p.store.add_event("drift_detected", "other-model", summary="not ours")
    assert notify_pending(p.runtime, may_act=lambda: True) == 1
    assert receiver.kinds() == ["promoted"]
    body = receiver.received[0]
    assert body["text"].startswith(":rocket: [tiny] promoted version 1:")
    assert body["blocks"][0]["type"] == "section" and body["opsloop"]["version"] == "1"
    assert body["_event_id_header"] == str(body["opsloop"]["id"])
    # a restarted agent (a new Project on the same store) sends nothing again
    again = project(tmp_path / "again", receiver.url, store=p.store)
    assert notify_pending(again.runtime, may_act=lambda: True) == 0
    p.store.add_event(
        "rolled_back", "tiny", version="1", summary="automatic", evidence={"automatic": True}
    )
    assert notify_pending(again.runtime, may_act=lambda: True) == 1
    assert receiver.kinds() == ["promoted", "rolled_back"]


def test_failing_receiver_is_retried_until_it_answers(tmp_path: Path) -> None:
    flaky = Receiver(fail_first=2)
    try:
        p = project(tmp_path, flaky.url, events="[approval_pending, training_failed]")
        notify_pending(p.runtime, may_act=lambda: True)
        p.store.add_event("approval_pending", "tiny", version="3", summary="waiting")
        assert notify_pending(p.runtime, may_act=lambda: True) == 1
        assert len(flaky.attempts) == 3 and flaky.kinds() == ["approval_pending"]
        assert p.store.list_events("tiny", kinds=["notification_failed"]) == []
    finally:
        flaky.close()


def test_undeliverable_is_recorded_and_never_fatal(tmp_path: Path) -> None:
    dead = Receiver(always=503)
    gone = Receiver(always=404)
    try:
        p = project(tmp_path, dead.url)
        notify_pending(p.runtime, may_act=lambda: True)
        p.store.add_event("training_failed", "tiny", summary="boom")
        assert notify_pending(p.runtime, may_act=lambda: True) == 1  # handled: not stuck
        assert len(dead.attempts) == 4  # 1 + notify.retries
        (failed,) = p.store.list_events("tiny", kinds=["notification_failed"])
        assert failed.evidence["attempts"] == 4 and "HTTP 503" in failed.evidence["errors"][0]
        assert "secret-path" not in failed.summary  # webhook paths are secrets
        assert notify_pending(p.runtime, may_act=lambda: True) == 0  # not re-sent

        q = project(tmp_path / "q", gone.url)
        notify_pending(q.runtime, may_act=lambda: True)
        q.store.add_event("promoted", "tiny", version="1")
        notify_pending(q.runtime, may_act=lambda: True)
        assert len(gone.attempts) == 1  # a 4xx is not retried
    finally:
        dead.close()
        gone.close()


def test_dispatcher_delivers_in_the_background_only_while_allowed(
    tmp_path: Path, receiver: Receiver
) -> None:
    p = project(tmp_path, receiver.url)
    notify_pending(p.runtime, may_act=lambda: True)  # the cursor starts here
    p.store.add_event("promoted", "tiny", version="7", summary="x")
    # without the lease nothing is sent and the cursor stays
    assert notify_pending(p.runtime, may_act=lambda: False) == 0 and receiver.kinds() == []
    dispatcher = Dispatcher(p.runtime, may_act=lambda: True, poll=60)
    try:
        dispatcher.wake()
        wait_until(lambda: receiver.kinds() == ["promoted"])
        p.store.add_event("performance_degraded", "tiny", version="7", summary="auc 0.6")
        dispatcher.wake()
        wait_until(lambda: receiver.kinds() == ["promoted", "performance_degraded"])
    finally:
        dispatcher.close()
    assert receiver.kinds() == ["promoted", "performance_degraded"]


def test_unknown_event_kinds_are_a_config_error(tmp_path: Path, receiver: Receiver) -> None:
    p = project(tmp_path, receiver.url, events="[promotd]")
    with pytest.raises(ConfigError, match="promotd"):
        notify_pending(p.runtime, may_act=lambda: True)
