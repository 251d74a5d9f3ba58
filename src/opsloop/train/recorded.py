"""What every training records in the ops store beside its stages, whatever the task: a
`data_invalid` event when the validate stage refuses the data, and — once the registry has
the version — the `challenger` alias, the register stage's detail and the `trained` and
`registered` events (the tabular pipeline's `register.py` and the recommender's
`ranking_register.py` share them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsloop.core.aliases import CHALLENGER
from opsloop.core.integrity import DIGEST_TAG
from opsloop.runtime import Runtime

if TYPE_CHECKING:
    from opsloop.errors import DataValidationError
    from opsloop.inference import InferenceCheck
    from opsloop.registry.base import ModelVersion


def record_data_invalid(
    rt: Runtime,
    exc: DataValidationError,
    *,
    window: str,
    trigger: str,
    quality: list[dict[str, Any]],
) -> None:
    """The `data_invalid` event of a validate stage that refused the window's data."""
    rt.store.add_event(
        "data_invalid",
        rt.model,
        summary=str(exc),
        evidence={"window": window, "trigger": trigger, "quality": quality},
    )


def announce_registered(
    rt: Runtime,
    mv: ModelVersion,
    *,
    detail: dict[str, Any],
    summary: str,
    evidence: dict[str, Any],
    tags: dict[str, str],
    inference: InferenceCheck,
) -> None:
    """After the registry's commit of `mv`: the `challenger` alias, the register stage's
    `detail`, the `trained` event (`summary`, `evidence` and the inference verdict) and the
    `registered` event (with the artifact digest checked before any unpickling)."""
    rt.registry.set_alias(rt.model, CHALLENGER, mv.version)
    detail.update(version=mv.version, run_id=mv.run_id)
    rt.store.add_event(
        "trained",
        rt.model,
        version=mv.version,
        summary=summary,
        evidence={**evidence, "inference": inference.to_dict()},
    )
    rt.store.add_event(
        "registered",
        rt.model,
        version=mv.version,
        summary=f"registered {rt.model} version {mv.version} (alias challenger)",
        evidence={
            "run_id": mv.run_id,
            "source": mv.source,
            "tags": tags,
            "inference": inference.to_dict(),
            # checked before any unpickling of this version (opsloop.artifacts, SECURITY.md)
            "artifact_sha256": mv.tags.get(DIGEST_TAG),
        },
    )
