"""The MLflow `champion` alias, derived from the ops store's committed deployment.

The ops store is the single commit point of a promotion (`store/deployments.py`); the
alias is written only AFTER the deployment row committed, from the row, never the reverse.
Two writers that commit one after the other may set the alias in the other order, so
`sync_champion` re-reads the current deployment after setting it and sets it again if that
moved: whoever sets the alias last has read the newest committed row after its write.

A process killed between its commit and its alias write (or an alias moved by hand in the
MLflow UI) leaves the alias apart from the row; `reconcile_champion` — run by every agent
tick, every server's deployment poll and reported by `opsloop status` — finds that drift
and repairs it with an `alias_repaired` event.

The `challenger` alias leaves a version once it is rejected (`approvals.record_approval`);
a process killed between the rejection's commit and that (a rejection or an approval's
expiry) leaves it on a rejected version: `reconcile_challenger`, run by every agent tick,
drops it with an `alias_repaired` event.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from opsloop.core.aliases import CHALLENGER, CHAMPION
from opsloop.registry.base import ModelRegistry
from opsloop.store.ports import ApprovalRepository, DeploymentRepository, EventLog
from opsloop.store.records import Deployment

_ROUNDS = 5  # re-reads while concurrent promotions keep committing


@dataclass(frozen=True)
class AliasDrift:
    """The `champion` alias disagrees with the ops store's current deployment."""

    model: str
    alias: str
    alias_version: str | None  # None: the alias is not set
    deployed_version: str
    revision: int

    @property
    def summary(self) -> str:
        was = "not set" if self.alias_version is None else f"on version {self.alias_version}"
        return (
            f"MLflow alias {self.alias!r} of {self.model!r} was {was} while the ops store "
            f"deploys version {self.deployed_version} (revision {self.revision})"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_drift(
    registry: ModelRegistry, store: DeploymentRepository, model: str, env: str = "production"
) -> AliasDrift | None:
    """The champion alias's drift from the current deployment (None: they agree, or nothing
    is deployed — then there is nothing the alias should mirror)."""
    current = store.find_deployment(model, env)
    if current is None:
        return None
    alias = registry.find_alias_version(model, CHAMPION)
    if alias == current.version:
        return None
    return AliasDrift(model, CHAMPION, alias, current.version, current.revision)


def sync_champion(
    registry: ModelRegistry, store: DeploymentRepository, model: str, env: str = "production"
) -> Deployment | None:
    """Point `champion` at the committed current deployment; returns that deployment."""
    current = store.find_deployment(model, env)
    for _ in range(_ROUNDS):
        if current is None:
            return None
        if registry.find_alias_version(model, CHAMPION) != current.version:
            registry.set_alias(model, CHAMPION, current.version)
        again = store.find_deployment(model, env)
        if again is not None and again.revision == current.revision:
            return current
        current = again
    return current


class _Store(DeploymentRepository, EventLog, Protocol):
    """What the reconciler needs of the ops store."""


def reconcile_champion(
    registry: ModelRegistry,
    store: _Store,
    model: str,
    *,
    actor: str = "opsloop (reconciler)",
    env: str = "production",
) -> AliasDrift | None:
    """Repair the champion alias's drift, if any, with an `alias_repaired` event; returns
    the drift that was repaired (None: nothing to do)."""
    drift = find_drift(registry, store, model, env)
    if drift is None:
        return None
    synced = sync_champion(registry, store, model, env)
    version = drift.deployed_version if synced is None else synced.version
    store.add_event(
        "alias_repaired",
        model,
        version=version,
        summary=f"{drift.summary}; moved the alias to version {version}",
        evidence={**drift.to_dict(), "repaired_to": version},
        actor=actor,
    )
    return drift


class _ApprovalStore(ApprovalRepository, EventLog, Protocol):
    """What the challenger's reconciler needs of the ops store."""


def reconcile_challenger(
    registry: ModelRegistry,
    store: _ApprovalStore,
    model: str,
    *,
    actor: str = "opsloop (reconciler)",
) -> str | None:
    """Drop the `challenger` alias from a rejected (or expired) version, with an
    `alias_repaired` event; returns the version it left (None: nothing to do)."""
    challenger = registry.find_alias(model, CHALLENGER)
    if challenger is None:
        return None
    approval = store.find_approval(model, challenger.version)
    if approval is None or approval.status != "rejected":
        return None
    registry.delete_alias(model, CHALLENGER)
    store.add_event(
        "alias_repaired",
        model,
        version=challenger.version,
        summary=f"MLflow alias {CHALLENGER!r} of {model!r} was on version "
        f"{challenger.version}, rejected by {approval.actor}; dropped it",
        evidence={
            "model": model,
            "alias": CHALLENGER,
            "alias_version": challenger.version,
            "rejected_by": approval.actor,
            "approval_id": approval.id,
        },
        actor=actor,
    )
    return challenger.version
