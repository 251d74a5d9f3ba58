"""A lease held by this process: the agent's (one acting agent per model and ops store) and a
training pipeline's (one training of a model at a time).

The row and its compare-and-set transitions live in the ops store
(`store/orchestration.py`); this wraps them for a holder: acquire (take, renew or take over
an expired lease), renew in the background while working, release on the way out.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from opsloop.stages import Heartbeat
from opsloop.store.records import Lease

if TYPE_CHECKING:
    from opsloop.store.sql import OpsStore

log = logging.getLogger("opsloop.lease")


def new_holder() -> str:
    """`host:pid:random`: unique per process and per lease object."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def agent_lease_name(model: str) -> str:
    return f"agent:{model}"


def training_lease_name(model: str) -> str:
    return f"train:{model}"


class HeldLease:
    """One holder's view of the lease `name`."""

    def __init__(
        self,
        store: OpsStore,
        name: str,
        ttl: timedelta,
        *,
        holder: str | None = None,
        model: str | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.ttl = ttl
        self.holder = holder or new_holder()
        self.model = model  # with a model, changes of holder are recorded as events
        self.lease: Lease | None = None

    @property
    def held(self) -> bool:
        return self.lease is not None

    def acquire(self) -> bool:
        """Take the lease (or renew it if held); False while another holder's is live."""
        self.lease = self.store.acquire_lease(self.name, self.holder, self.ttl, model=self.model)
        return self.lease is not None

    def renew(self) -> None:
        if self.lease is None:
            return
        self.lease = self.store.renew_lease(self.lease, self.ttl)
        if self.lease is None:
            current = self.store.find_lease(self.name)
            log.warning(
                "lease %s lost: now held by %s", self.name, current.holder if current else "nobody"
            )

    def release(self) -> None:
        if self.lease is not None:
            self.store.release_lease(self.lease)
            self.lease = None

    def keep_alive(self) -> Heartbeat:
        """Renew every third of the TTL in the background (for long ticks and runs)."""
        return Heartbeat(self.renew, self.ttl.total_seconds() / 3)

    def current(self) -> Lease | None:
        return self.store.find_lease(self.name)
