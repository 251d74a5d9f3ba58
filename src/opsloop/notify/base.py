"""The `Notifier` protocol, the message format, and an in-memory notifier for tests."""

from __future__ import annotations

from typing import Any, Protocol

from opsloop.store.records import Event

_ICONS = {
    "drift_detected": ":warning:",
    "performance_degraded": ":warning:",
    "performance_estimated_degraded": ":warning:",
    "quality_failed": ":warning:",
    "rolled_back": ":rewind:",
    "approval_pending": ":raised_hand:",
    "promoted": ":rocket:",
    "training_failed": ":x:",
}


class DeliveryError(Exception):
    """A notification was not delivered; `retryable` when trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Notifier(Protocol):
    """Something that tells people about events."""

    @property
    def key(self) -> str:
        """Stable identity (names its cursor in the ops store)."""
        ...

    @property
    def kinds(self) -> frozenset[str]:
        """Event kinds it wants."""
        ...

    def send(self, event: Event) -> None:
        """Deliver one event; DeliveryError on failure."""
        ...


def slack_message(event: Event) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook body: `text` (the fallback every receiver
    shows), `blocks`, and the whole event under `opsloop` for other receivers."""
    what = event.kind.replace("_", " ")
    version = f" version {event.version}" if event.version else ""
    icon = _ICONS.get(event.kind, ":information_source:")
    text = f"{icon} [{event.model}] {what}{version}: {event.summary}"
    return {
        "text": text,
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"{icon} *{event.model}* · *{what}*{version}\n{event.summary}",
                },
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"event {event.id} · {event.ts:%Y-%m-%d %H:%M:%S}"
                        f" UTC · by {event.actor}",
                    }
                ],
            },
        ],
        "opsloop": event.to_dict(),
    }


class MemoryNotifier:
    """Keeps what it was sent (tests, and a dry run)."""

    def __init__(self, kinds: frozenset[str], key: str = "memory") -> None:
        self.key = key
        self.kinds = kinds
        self.sent: list[Event] = []

    def send(self, event: Event) -> None:
        self.sent.append(event)
