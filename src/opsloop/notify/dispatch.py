"""Deliver events to notifiers: a cursor per notifier over the events table, retries with
back-off, failures recorded and never fatal.

Each notifier has a cursor row in the ops store (`notify:<model>:<notifier key>`) holding
the id of the last event it was sent. Delivery reads the events after it (oldest first),
sends each one (retrying `notify.retries` times, waiting `notify.backoff` doubled each
time), and moves the cursor past it by compare-and-set — also after a final failure, which
is logged and recorded as a `notification_failed` event (a dead receiver must not stall the
events after it). So each event is notified once across agent restarts and take-overs; a
crash between sending and moving the cursor sends that one event again (receivers can
de-duplicate on the `X-Opsloop-Event-Id` header). A new cursor starts at the newest event:
a notifier added to opsloop.yaml is not flooded with history.

Delivery runs on a thread per notifier, woken after each agent tick, so a slow or failing
receiver never delays the agent, and only while the agent holds its lease.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from opsloop.errors import ConfigError, OpsloopError
from opsloop.notify.base import DeliveryError, Notifier
from opsloop.runtime import Runtime
from opsloop.store.records import EVENT_KINDS, Event

log = logging.getLogger("opsloop.notify")

_NOT_NOTIFIABLE = frozenset({"notification_failed"})


def build_notifiers(rt: Runtime) -> list[Notifier]:
    """The notifiers `notify:` in opsloop.yaml asks for; ConfigError on unknown kinds."""
    from opsloop.notify.webhook import WebhookNotifier

    out: list[Notifier] = []
    allowed = sorted(set(EVENT_KINDS) - _NOT_NOTIFIABLE)
    for i, hook in enumerate(rt.config.notify.webhooks):
        unknown = [k for k in hook.events if k not in allowed]
        if unknown:
            raise ConfigError(
                f"notify.webhooks[{i}].events: unknown event kind(s) {unknown}",
                expected=f"kinds among {', '.join(allowed)}",
                fix="correct the names in opsloop.yaml (docs/cli.md lists them)",
            )
        out.append(
            WebhookNotifier(hook.url, frozenset(hook.events), timeout=hook.timeout.total_seconds())
        )
    return out


def cursor_name(rt: Runtime, notifier: Notifier) -> str:
    return f"notify:{rt.model}:{notifier.key}"


def deliver_pending(
    rt: Runtime,
    notifier: Notifier,
    *,
    may_act: Callable[[], bool],
    stop: threading.Event,
    batch: int = 100,
) -> int:
    """Send every event after the notifier's cursor; the number handled."""
    name = cursor_name(rt, notifier)
    cursor = rt.store.find_cursor(name)
    if cursor is None:
        cursor = rt.store.init_cursor(name, rt.store.last_event_id())
    handled = 0
    while not stop.is_set():
        events = rt.store.list_events_after(
            rt.model, cursor, kinds=sorted(notifier.kinds), limit=batch
        )
        if not events:
            return handled
        for event in events:
            if stop.is_set() or not may_act():
                return handled
            _deliver(rt, notifier, event, stop)
            if stop.is_set():
                return handled  # interrupted mid-retry: the cursor stays, it is sent again
            if not rt.store.advance_cursor(name, cursor, event.id):
                log.warning("notification cursor %s moved by someone else; stopping", name)
                return handled
            cursor = event.id
            handled += 1
    return handled


def _deliver(rt: Runtime, notifier: Notifier, event: Event, stop: threading.Event) -> None:
    cfg = rt.config.notify
    errors: list[str] = []
    for attempt in range(cfg.retries + 1):
        try:
            notifier.send(event)
            return
        except DeliveryError as exc:
            errors.append(str(exc))
            if not exc.retryable or attempt == cfg.retries:
                break
            if stop.wait(cfg.backoff.total_seconds() * 2**attempt):
                return
        except Exception as exc:  # a notifier's bug must not stop the agent
            errors.append(f"{type(exc).__name__}: {exc}")
            break
    where = getattr(notifier, "where", notifier.key)
    log.warning(
        "could not notify %s of event %s (%s) after %d attempt(s): %s",
        where,
        event.id,
        event.kind,
        len(errors),
        errors[-1],
    )
    try:
        rt.store.add_event(
            "notification_failed",
            rt.model,
            version=event.version,
            summary=f"{event.kind} event {event.id} not delivered to {where}: {errors[-1]}",
            evidence={
                "event_id": event.id,
                "event_kind": event.kind,
                "notifier": notifier.key,
                "where": where,
                "attempts": len(errors),
                "errors": errors,
            },
        )
    except OpsloopError as exc:
        log.error("could not record the failed notification: %s", exc)


def notify_pending(
    rt: Runtime, *, may_act: Callable[[], bool], notifiers: Sequence[Notifier] | None = None
) -> int:
    """Deliver what is pending now, in this thread (`opsloop agent --once`)."""
    handled = 0
    for notifier in build_notifiers(rt) if notifiers is None else notifiers:
        try:
            handled += deliver_pending(rt, notifier, may_act=may_act, stop=threading.Event())
        except OpsloopError as exc:
            log.error("notifications to %s failed: %s", notifier.key, exc)
    return handled


class Dispatcher:
    """A delivery thread per notifier; `wake()` after each tick, `close()` at the end."""

    def __init__(
        self,
        rt: Runtime,
        *,
        may_act: Callable[[], bool],
        notifiers: Sequence[Notifier] | None = None,
        poll: float = 30.0,
    ) -> None:
        self.rt = rt
        self.may_act = may_act
        self.notifiers = list(build_notifiers(rt) if notifiers is None else notifiers)
        self.poll = poll
        self._stop = threading.Event()
        self._wake = [threading.Event() for _ in self.notifiers]
        self._threads = [
            threading.Thread(
                target=self._run, args=(i,), daemon=True, name=f"opsloop-notify-{n.key}"
            )
            for i, n in enumerate(self.notifiers)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, i: int) -> None:
        while not self._stop.is_set():
            self._wake[i].wait(self.poll)
            self._wake[i].clear()
            if self._stop.is_set() or not self.may_act():
                continue
            try:
                deliver_pending(self.rt, self.notifiers[i], may_act=self.may_act, stop=self._stop)
            except Exception as exc:  # never fatal: log and try again at the next wake
                log.error("notifications to %s failed: %s", self.notifiers[i].key, exc)

    def wake(self) -> None:
        for event in self._wake:
            event.set()

    def close(self) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join()
