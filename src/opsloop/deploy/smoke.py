"""Before a promotion commits: the version must load through the verified artifact path
(`artifacts.load_verified`) and predict on the input example stored with it.

A version that fails is refused with a `StateError` naming what failed and a
`promotion_refused` event; nothing else changes (the servers would refuse to load it and
keep the old version, while `status` and the API called it champion)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloop.artifacts import load_verified
from opsloop.errors import OpsloopError, StateError

if TYPE_CHECKING:
    from opsloop.registry.base import LoadedModel
    from opsloop.runtime import Runtime

REFUSED = "promotion_refused"


def check_loads(rt: Runtime, version: str, *, actor: str) -> None:
    """Load `version` and predict on its input example; StateError and an event if not."""
    stage = "load"
    try:
        model = load_verified(rt.registry, rt.store, rt.model, version)
        stage = "predict on its input example"
        _smoke_predict(model)
    except Exception as exc:  # user models raise anything; each is a refusal, said once
        detail = exc.message if isinstance(exc, OpsloopError) else f"{type(exc).__name__}: {exc}"
        detail = detail.splitlines()[0] if detail else type(exc).__name__
        rt.store.add_event(
            REFUSED,
            rt.model,
            version=version,
            actor=actor,
            summary=f"refused to promote version {version}: it failed to {stage}",
            evidence={"stage": stage, "error": detail[:500]},
        )
        raise StateError(
            f"version {version} of {rt.model!r} cannot be promoted: it failed to {stage} "
            f"({detail[:300]})",
            fix="nothing was changed; fix or retrain the model (`opsloop train`), check the "
            "artifact store and that this environment has the model's libraries",
        ) from None


def _smoke_predict(model: LoadedModel) -> None:
    example = model.input_example
    if example is None or len(example) == 0:
        return  # registered without an example: loading is all that can be checked
    prediction, _ = model.predict_frame(example)
    if len(prediction) != len(example):
        raise ValueError(
            f"the model answered {len(prediction)} predictions for {len(example)} example rows"
        )
