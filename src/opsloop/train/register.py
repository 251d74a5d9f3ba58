"""The register stage's work: what is stored with a version besides the model — the
reference profile, the monitor's fitted references (multivariate transform, learned drift
thresholds, data-quality expectations, the CBPE calibrator), the data contract, tags and
parameters, the verdict on the compiled inference path (checked on the holdout:
opsloop.inference) — and the registration itself (alias `challenger`, `trained` and `registered`
events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opsloop.faults import crash_point
from opsloop.runtime import Runtime
from opsloop.train.feedback import FeedbackCounts
from opsloop.train.inputs import TrainingInputs
from opsloop.train.recorded import announce_registered

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from opsloop.core.profile import FeatureLike, Profile
    from opsloop.data.features import FeatureSpec
    from opsloop.ranking.data import RankingData, TopK
    from opsloop.registry.base import LoadedModel, ModelVersion
    from opsloop.train.window import WindowRecord


@dataclass(frozen=True, eq=False)
class Fitted:
    """What the split, fit and evaluate stages produced, for the register stage."""

    frame: pd.DataFrame
    train: pd.DataFrame
    holdout: pd.DataFrame
    specs: list[FeatureSpec]
    estimator: Any
    model: LoadedModel  # the fitted estimator, version "candidate" until registered
    metrics: dict[str, float]
    schema_yaml: str
    cbpe_json: str | None
    inputs: TrainingInputs  # data, code and configuration digests (the version's tags)
    feedback: FeedbackCounts | None = None  # rows from load() and from feedback, if enabled


def fit_cbpe(
    rt: Runtime, holdout: pd.DataFrame, pred: Any, score: Any, detail: dict[str, Any]
) -> str | None:
    """The CBPE reference (calibrator + alert bands) learned on the holdout, as JSON; None
    unless a binary classifier with scores and estimated performance enabled."""
    cfg = rt.config
    if (
        cfg.task != "binary_classification"
        or score is None
        or not cfg.monitor.estimated_performance.enabled
    ):
        return None
    from opsloop.metrics import align_labels, positive_truth
    from opsloop.monitor.cbpe import CBPEReference

    truth = positive_truth(*align_labels(holdout[cfg.target].to_numpy(), pred))
    ref = CBPEReference.fit(score, truth, chunks=cfg.monitor.estimated_performance.chunks)
    detail["cbpe"] = {
        "calibrated": ref.calibrated,
        "ece_raw": ref.ece_raw,
        "ece_calibrated": ref.ece_calibrated,
        "chunk_rows": ref.chunk_rows,
    }
    return ref.to_json()


def _monitor_artifacts(
    rt: Runtime,
    reference: pd.DataFrame,
    specs: list[FeatureSpec],
    profile_specs: list[FeatureSpec],
    profile: Profile,
    detail: dict[str, Any],
) -> dict[str, str]:
    """The multivariate transform and the learned drift thresholds, fitted on the
    reference (its chunks consecutive in time), as artifacts stored with the version
    (opsloop.monitor.multivariate, opsloop.monitor.thresholds)."""
    from opsloop.monitor import multivariate, thresholds

    time_column = rt.config.time_column
    if time_column in reference.columns:
        reference = reference.sort_values(time_column, kind="stable").reset_index(drop=True)
    drift = rt.config.monitor.drift
    out: dict[str, str] = {}
    mv = drift.multivariate
    if mv.enabled:
        transform = multivariate.fit_transform(
            reference, specs, variance=mv.variance, chunks=drift.chunks, sigma=mv.sigma
        )
        if transform is not None:
            out[multivariate.ARTIFACT] = transform.to_json()
            detail["multivariate_components"] = transform.n_components
    learned = thresholds.learn_thresholds(
        reference, profile, profile_specs, chunks=drift.chunks, sigma=drift.sigma
    )
    if learned is not None:
        out[thresholds.ARTIFACT] = learned.to_json()
    return out


def _target_contract(frame: pd.DataFrame, target: str, task: str) -> dict[str, Any]:
    """The target's task and classes, for checking labels without loading the model
    (`orchestrate/labels.py` reads it from this `trained` event)."""
    if task == "regression":
        return {"task": task, "classes": None}
    classes = frame[target].dropna().unique().tolist()
    return {"task": task, "classes": sorted(classes, key=lambda c: (str(type(c)), c))}


# From this many rows the reference profile is computed by DuckDB (`engine_profile`): 1M
# rows of the churn example take ~8x less time than NumPy's `compute_profile`; below it
# NumPy is faster than DuckDB's fixed cost (docs/benchmarks.md, "Reference profile").
ENGINE_PROFILE_ROWS = 200_000


def engine_profile(frame: pd.DataFrame, specs: Sequence[FeatureLike]) -> Profile:
    """`compute_profile(frame, specs)` computed by DuckDB (`engines.reference_sql`, as
    `opsloop drift` does): the same layout and counts (categorical counts and numeric bin
    edges equal NumPy's, tests/unit/train/test_engine_profile.py), the display deciles
    interpolated within their bucket and, above `SAMPLE_SIZE` values, DuckDB's reservoir
    sample instead of NumPy's."""
    import duckdb

    from opsloop.engines.profile_sql import describe
    from opsloop.engines.reference_sql import reference_profile, sample

    with duckdb.connect(config={"threads": 2}) as con:
        con.register("opsloop_reference", frame)
        columns = describe(con, "opsloop_reference")
        present = [f for f in specs if f.name in columns]
        profile = reference_profile(con, "opsloop_reference", present, columns).profile
        for f in present:
            fp = profile.features[f.name]
            if f.kind == "numeric" and fp.layout is not None:
                fp.sample = sample(con, "opsloop_reference", f.name, columns[f.name])
    return profile


def register_version(
    rt: Runtime,
    fitted: Fitted,
    *,
    window: WindowRecord,
    trigger: str,
    pipeline_run: int,
    detail: dict[str, Any],
) -> ModelVersion:
    """Register the fitted model with everything monitoring needs, as the `challenger`."""
    from opsloop.core.profile import compute_profile
    from opsloop.data.features import FeatureSpec, features_to_json
    from opsloop.inference import check_on_holdout
    from opsloop.monitor.quality import EXPECTATIONS_ARTIFACT, learn_expectations
    from opsloop.registry.base import TrainingRecord

    cfg = rt.config
    frame, holdout, specs, metrics = fitted.frame, fitted.holdout, fitted.specs, fitted.metrics
    names = [s.name for s in specs]
    primary = cfg.gate.primary.metric
    reference = frame.copy()
    _, ref_score = fitted.model.predict_frame(reference)
    profile_specs = list(specs)
    if ref_score is not None:
        reference["score"] = ref_score
        profile_specs.append(FeatureSpec("score", "numeric", "float64", False))
    profile = (
        compute_profile(reference, profile_specs)
        if len(reference) < ENGINE_PROFILE_ROWS
        else engine_profile(reference, profile_specs)
    )
    extra = _monitor_artifacts(rt, reference, specs, profile_specs, profile, detail)
    inference = check_on_holdout(fitted.model, holdout)
    detail["inference"] = inference.to_dict()
    digest = fitted.inputs.data
    tags = {
        **fitted.inputs.tags(),
        **window.tags(),
        "opsloop.trigger": trigger,
        "opsloop.train_rows": str(len(fitted.train)),
        "opsloop.holdout_rows": str(len(holdout)),
        "opsloop.reference_profile": "opsloop/reference_profile.json",
        **({} if fitted.feedback is None else fitted.feedback.tags()),
        **inference.tags(),
    }
    params: dict[str, Any] = {"opsloop.features": ",".join(names)}
    estimator = fitted.estimator
    if hasattr(estimator, "get_params"):
        params.update(
            {
                k: v
                for k, v in estimator.get_params(deep=False).items()
                if isinstance(v, int | float | str | bool | type(None))
            }
        )
    record = TrainingRecord(
        model_name=rt.model,
        estimator=estimator,
        features=specs,
        task=cfg.task,
        params=params,
        metrics={f"holdout_{k}": v for k, v in metrics.items()},
        tags=tags,
        target=cfg.target,
        dataset=frame,
        dataset_digest=digest,
        input_example=holdout[names].head(5).reset_index(drop=True),
        artifacts={
            "schema.yaml": fitted.schema_yaml,
            "reference_profile.json": profile.to_json(),
            EXPECTATIONS_ARTIFACT: learn_expectations(frame, specs, cfg.time_column).to_json(),
            "features.json": features_to_json(specs),
            **({} if fitted.cbpe_json is None else {"cbpe.json": fitted.cbpe_json}),
            **extra,
        },
        experiment=rt.model,
    )
    mv = rt.registry.register(record)
    crash_point("train.after_mlflow_register")
    announce_registered(
        rt,
        mv,
        detail=detail,
        summary=f"{primary}={metrics.get(primary, float('nan')):.4f} "
        f"on {len(holdout)} holdout rows",
        evidence={
            "metrics": metrics,
            "rows": len(frame),
            **window.evidence(),
            "trigger": trigger,
            "pipeline_run": pipeline_run,
            "target": _target_contract(frame, cfg.target, cfg.task),
            **({} if fitted.feedback is None else {"feedback": fitted.feedback.to_dict()}),
        },
        tags=tags,
        inference=inference,
    )
    return mv


# ---- ranking (issue 17, rankmon): what `opsloop monitor` needs of a recommender ---------
def ranking_monitor_artifacts(
    rt: Runtime,
    train: RankingData,
    top: TopK,
    *,
    visits: pd.DataFrame,
    ndcg: float | None = None,
) -> dict[str, str]:
    """The artifact a registered ranking version needs to be monitored
    (`opsloop.monitor.ranking`): its `RankingReference`, from the time split — `train` its
    training data (the users and items tables as known at the cut-off), `visits` its
    evaluation visits (the interactions in [cut-off, cut-off + holdout)), `top` the model's
    lists for the evaluation users, `ndcg` the offline NDCG@k. Merge the result into the
    registered record's `artifacts`."""
    from opsloop.monitor.ranking.reference import ARTIFACT, ranking_reference

    assert rt.config.ranking is not None  # task: ranking has the section (ProjectConfig)
    reference = ranking_reference(train, top, k=rt.config.ranking.k, visits=visits, ndcg=ndcg)
    return {ARTIFACT: reference.to_json()}
