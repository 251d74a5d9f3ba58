"""Post events to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat,
Teams workflows, or any HTTP receiver)."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from opsloop.notify.base import DeliveryError, slack_message
from opsloop.store.records import Event


class WebhookNotifier:
    def __init__(self, url: str, kinds: frozenset[str], *, timeout: float = 10.0) -> None:
        self.url = url
        self.kinds = kinds
        self.timeout = timeout
        self.key = "webhook-" + hashlib.sha256(url.encode()).hexdigest()[:12]

    @property
    def where(self) -> str:
        """The URL without its path (webhook paths are secrets)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}/…"

    def send(self, event: Event) -> None:
        import httpx

        try:
            r = httpx.post(
                self.url,
                json=slack_message(event),
                timeout=self.timeout,
                headers={"X-Opsloop-Event-Id": str(event.id)},
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from None
        if r.status_code >= 300:
            raise DeliveryError(
                f"HTTP {r.status_code}: {r.text[:200]}",
                retryable=r.status_code == 429 or r.status_code >= 500,
            )
