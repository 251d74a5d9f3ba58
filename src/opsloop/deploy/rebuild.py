"""A lost ops store is never silent (issue 19, finding 5).

When the ops store has no record of a model (no deployment, no event) while the model
registry holds versions of it, the store was lost or replaced (a deleted `.opsloop/ops.db`,
a wrong `stack.ops_store`): acting on it would start a new, empty history beside the real
one and servers would answer 503. `check_not_lost` refuses with the fix; `rebuild` restores
the current deployment from the registry's `champion` alias (the alias is derived from the
committed deployment row, so it is the last champion the store knew) with a
`store_rebuilt` event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from opsloop.core.aliases import CHAMPION
from opsloop.errors import StateError
from opsloop.store.ports import has_record

if TYPE_CHECKING:
    from opsloop.registry.base import ModelRegistry
    from opsloop.runtime import Runtime
    from opsloop.store.ports import StoreReads

__all__ = ["FIX", "REBUILT", "Rebuilt", "check_not_lost", "has_record", "rebuild"]

REBUILT = "store_rebuilt"
FIX = (
    "run `opsloop store rebuild` to restore the current deployment from the registry's "
    "`champion` alias, or point `stack.ops_store` at the ops store that holds the history"
)


@dataclass(frozen=True)
class Rebuilt:
    """What `opsloop store rebuild` restored."""

    model: str
    champion: str | None  # the version deployed again; None: the registry had no champion
    revision: int | None
    versions: list[str]  # the versions the registry holds


def check_not_lost(store: StoreReads, registry: ModelRegistry, model: str) -> None:
    """StateError when the store has no record of `model` but the registry has versions.
    A store that knows the model never asks the registry (no MLflow import)."""
    if has_record(store, model):
        return
    versions = [v.version for v in registry.list_versions(model)]
    if not versions:
        return  # a new project: nothing was lost
    raise StateError(
        f"the ops store has no record of {model!r} but the model registry holds "
        f"{len(versions)} version(s) of it (newest {versions[-1]}): the ops store was lost "
        "or replaced, so nothing was done",
        fix=FIX,
    )


def rebuild(rt: Runtime) -> Rebuilt:
    """Restore the current deployment of `rt.model` from the registry's `champion` alias
    into an ops store that has no record of the model; a `store_rebuilt` event either way."""
    model = rt.model
    if has_record(rt.store, model):
        deployment = rt.store.find_deployment(model)
        state = (
            "no deployment but events"
            if deployment is None
            else f"version {deployment.version} deployed (revision {deployment.revision})"
        )
        raise StateError(
            f"the ops store already holds the history of {model!r} ({state}); nothing to rebuild",
            fix="`opsloop status` shows it; rebuild only restores an empty ops store",
        )
    versions = [v.version for v in rt.registry.list_versions(model)]
    champion = rt.registry.find_alias(model, CHAMPION)
    evidence: dict[str, object] = {
        "source": f"the model registry's `{CHAMPION}` alias",
        "versions": versions,
        "champion": None if champion is None else champion.version,
    }
    if champion is None:
        rt.store.add_event(
            REBUILT,
            model,
            actor=rt.actor,
            summary=f"ops store rebuilt: the registry holds {len(versions)} version(s) of "
            f"{model!r} and no `{CHAMPION}` alias, so nothing is deployed",
            evidence=evidence,
        )
        return Rebuilt(model, None, None, versions)
    deployment = rt.store.record_deployment(
        model,
        champion.version,
        reason=f"restored from the registry's `{CHAMPION}` alias by `opsloop store rebuild`",
        actor=rt.actor,
        event_kind=REBUILT,
        evidence=evidence,
        expected_revision=None,
    )
    return Rebuilt(model, deployment.version, deployment.revision, versions)
