"""The register stage of a recommender (`task: ranking`): the fitted recommender is
registered like any model (it pickles; no signature or input example: it is asked for
lists, not fed rows), with the holdout metrics, the inputs' digests (the three tables'
fingerprint, the catalogue's of its own), the window and the split as tags, `ranking.json`
(the evaluation) as an artifact; alias `challenger`, `trained` and `registered` events."""

from __future__ import annotations

import dataclasses
import inspect
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opsloop.faults import crash_point
from opsloop.runtime import Runtime
from opsloop.train.recorded import announce_registered

if TYPE_CHECKING:
    from opsloop.ranking.data import RankingData
    from opsloop.ranking.holdout import RankingHoldout
    from opsloop.ranking.metrics import RankingMetrics
    from opsloop.registry.base import ModelVersion
    from opsloop.train.inputs import TrainingInputs
    from opsloop.train.window import WindowRecord

RANKING_ARTIFACT = "ranking.json"
CATALOGUE_TAG = "opsloop.catalogue_fingerprint"
# a recommender has no compiled path to verify (opsloop.inference): it is asked for lists
NOT_COMPILED = "a recommender (task: ranking) is asked for lists in batch: no compiled path"


@dataclass(frozen=True, eq=False)
class FittedRecommender:
    """What the split, fit and evaluate stages of a recommender produced."""

    data: RankingData  # the window's tables
    holdout: RankingHoldout
    recommender: Any
    measured: RankingMetrics
    inputs: TrainingInputs
    holdout_rows: int  # interactions in the holdout period
    artifacts: dict[str, str] = field(default_factory=dict)  # the monitor's reference

    @property
    def metrics(self) -> dict[str, float]:
        return self.measured.as_dict()


def recommender_params(recommender: Any) -> dict[str, Any]:
    """The constructor's settings of a recommender (scikit-learn's convention: stored under
    their own names), the plain values only."""
    if hasattr(recommender, "get_params"):
        values = recommender.get_params(deep=False)
    else:
        try:
            names = inspect.signature(type(recommender).__init__).parameters
        except (TypeError, ValueError):
            return {}
        values = {n: getattr(recommender, n) for n in names if hasattr(recommender, n)}
    return {
        k: v for k, v in values.items() if k != "self" and isinstance(v, int | float | str | bool)
    }


def evaluation_record(fitted: FittedRecommender) -> dict[str, Any]:
    """`ranking.json`: the split and the evaluation the version was judged on."""
    h = fitted.holdout
    summary = getattr(fitted.recommender, "training_", None)
    return {
        "cutoff": str(h.split.cutoff),
        "horizon": str(h.split.horizon),
        "k": h.k,
        "exclude_seen": h.exclude_seen,
        "users": h.evaluated,
        "cold_start_users": fitted.measured.n_cold_start,
        "catalogue": len(h.catalogue),
        "dropped_interactions": h.split.dropped,
        "train_interactions": len(h.train.interactions),
        "holdout_interactions": fitted.holdout_rows,
        "metrics": fitted.metrics,
        "training": _as_dict(summary),
    }


def _as_dict(summary: object) -> dict[str, Any] | None:
    """A recommender's `training_` summary (a dataclass, as `TwoStageRecommender`'s)."""
    if not dataclasses.is_dataclass(summary) or isinstance(summary, type):
        return None
    return dataclasses.asdict(summary)


def register_recommender(
    rt: Runtime,
    fitted: FittedRecommender,
    *,
    window: WindowRecord,
    trigger: str,
    pipeline_run: int,
    detail: dict[str, Any],
) -> ModelVersion:
    """Register the fitted recommender as the `challenger`."""
    from opsloop.data.fingerprint import fingerprint
    from opsloop.inference import InferenceCheck
    from opsloop.registry.base import TrainingRecord

    cfg = rt.config
    data, holdout, metrics = fitted.data, fitted.holdout, fitted.metrics
    evaluation = evaluation_record(fitted)
    inference = InferenceCheck("plain", NOT_COMPILED)
    detail["inference"] = inference.to_dict()
    tags = {
        **fitted.inputs.tags(),
        **window.tags(),
        "opsloop.trigger": trigger,
        "opsloop.train_rows": str(len(holdout.train.interactions)),
        "opsloop.holdout_rows": str(fitted.holdout_rows),
        "opsloop.holdout_users": str(holdout.evaluated),
        "opsloop.cutoff": str(holdout.split.cutoff),
        "opsloop.catalogue_items": str(len(data.items)),
        CATALOGUE_TAG: fingerprint(data.items),
        **inference.tags(),
    }
    record = TrainingRecord(
        model_name=rt.model,
        estimator=fitted.recommender,
        features=[],
        task=cfg.task,
        params={"opsloop.k": holdout.k, **recommender_params(fitted.recommender)},
        metrics={f"holdout_{k}": v for k, v in metrics.items()},
        tags=tags,
        target=data.item_column,
        dataset=data.interactions,
        dataset_digest=fitted.inputs.data,
        input_example=None,
        artifacts={
            RANKING_ARTIFACT: json.dumps(evaluation, indent=2, default=str),
            **fitted.artifacts,
        },
        experiment=rt.model,
    )
    mv = rt.registry.register(record)
    crash_point("train.after_mlflow_register")
    primary = cfg.gate.primary.metric
    announce_registered(
        rt,
        mv,
        detail=detail,
        summary=f"{primary}={metrics.get(primary, float('nan')):.4f} "
        f"on {holdout.evaluated} holdout users",
        evidence={
            "metrics": metrics,
            "rows": len(data.interactions),
            **window.evidence(),
            "trigger": trigger,
            "pipeline_run": pipeline_run,
            "target": {"task": cfg.task, "classes": None},
            "ranking": {k: v for k, v in evaluation.items() if k not in ("metrics", "training")},
        },
        tags=tags,
        inference=inference,
    )
    return mv
