"""Training as recorded stages: load → validate (pandera contract, inferred on first
training) → time split → fit → evaluate → register in MLflow (params, metrics, dataset input
with digest, model with signature and example, features, schema, reference profile and the
monitor's references as artifacts; alias `challenger`).

A `task: ranking` project (a recommender) is trained by `train/ranking.py`, in the same
stages. Training knows nothing of the gate, approvals or deployments: it returns a `TrainedVersion`
and `orchestrate/loop.py` takes it on. The caller owns the `StageRecorder` (one pipeline run
for the whole loop) and records a failure.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from opsloop.core.aliases import CHAMPION
from opsloop.data.window import Window
from opsloop.errors import DataValidationError, NotFoundError, UserCodeError
from opsloop.faults import crash_point
from opsloop.runtime import Runtime
from opsloop.stages import StageRecorder
from opsloop.train.feedback import add_feedback
from opsloop.train.inputs import Unchanged, training_inputs, unchanged_since
from opsloop.train.recorded import record_data_invalid
from opsloop.train.register import Fitted, fit_cbpe, register_version
from opsloop.train.trained import TrainedVersion
from opsloop.train.window import PlannedWindow, load_window

if TYPE_CHECKING:
    from opsloop.registry.base import ModelVersion


def train_version(
    rt: Runtime,
    rec: StageRecorder,
    *,
    window: PlannedWindow | Window,
    trigger: str = "manual",
    reset_schema: bool = False,
    force: bool = False,
) -> TrainedVersion | Unchanged:
    """Run the training stages in `rec`'s pipeline run and register the version; unless
    `force`, stop after the load stage with `Unchanged` when the data, code and
    configuration equal the champion's (nothing fitted, nothing registered)."""
    from opsloop.data.features import infer_features
    from opsloop.data.quality import check_quality, require_quality
    from opsloop.data.schema import infer_data_schema, validate_frame
    from opsloop.data.split import time_split
    from opsloop.metrics import compute_metrics
    from opsloop.registry.base import LoadedModel

    cfg = rt.config
    if isinstance(window, Window):
        window = PlannedWindow(window, "asked", {})
    if cfg.task == "ranking":  # a recommender: train/ranking.py
        from opsloop.train.ranking import train_ranking_version

        return train_ranking_version(rt, rec, window=window, trigger=trigger, force=force)
    with rec.stage("load") as d:
        champion = rt.registry.find_alias(rt.model, CHAMPION)
        loaded = load_window(rt, window, champion, d)
        frame = loaded.frame
        for warning in loaded.warnings:  # shown now: a later stage may fail on them
            if rec.progress:
                rec.progress("load", f"warning: {warning}")
        frame, feedback = add_feedback(rt, loaded.window, frame)
        if feedback is not None:
            d["feedback"] = feedback.to_dict()
        inputs = training_inputs(rt, frame)
        d.update(rows=len(frame), data_fingerprint=inputs.data)
        unchanged = None if force else unchanged_since(inputs, champion, rows=len(frame))
        if unchanged is not None:
            d["unchanged_since"] = unchanged.champion
            return replace(unchanged, window=loaded.window.key)
    crash_point("train.after_load")

    with rec.stage("validate") as d:
        schema_yaml = _stored_schema(rt, champion, reset_schema)
        if schema_yaml is None:
            schema_yaml = infer_data_schema(frame, target=cfg.target, task=cfg.task)
            d["schema"] = "inferred"
        else:
            d["schema"] = f"from version {champion.version}" if champion else "stored"
        quality = check_quality(
            frame,
            cfg.data.quality,
            target=cfg.target,
            task=cfg.task,
            features=list(
                cfg.features
                or [
                    c
                    for c in frame.columns
                    if c not in (cfg.target, cfg.id_column, cfg.time_column)
                ]
            ),
        )
        d["quality"] = [q.to_dict() for q in quality]
        try:
            validate_frame(schema_yaml, frame)
            require_quality(quality)
        except DataValidationError as exc:
            record_data_invalid(
                rt, exc, window=loaded.window.key, trigger=trigger, quality=d["quality"]
            )
            raise

    with rec.stage("split") as d:
        train, holdout = time_split(
            frame,
            time_column=cfg.time_column,
            holdout=cfg.split.holdout,
            target=cfg.target,
            task=cfg.task,
        )
        specs = infer_features(
            train, exclude=(cfg.target, cfg.id_column, cfg.time_column), only=cfg.features
        )
        names = [s.name for s in specs]
        d.update(train_rows=len(train), holdout_rows=len(holdout), features=len(names))

    with rec.stage("fit") as d:
        estimator = rt.build_estimator()
        t0 = time.perf_counter()
        try:
            estimator.fit(train[names], train[cfg.target])
        except Exception as exc:
            raise UserCodeError(
                f"fitting the estimator from build() failed: {type(exc).__name__}: {exc}",
                fix="check that build() handles the feature types (e.g. encodes strings)",
            ) from exc
        d["fit_seconds"] = round(time.perf_counter() - t0, 3)
        d["estimator"] = type(estimator).__name__
    crash_point("train.after_fit")

    candidate = LoadedModel(rt.model, "candidate", estimator, specs, cfg.task)
    with rec.stage("evaluate") as d:
        pred, score = candidate.predict_frame(holdout)
        metrics = compute_metrics(cfg.task, holdout[cfg.target].to_numpy(), pred, score)
        d["metrics"] = metrics
        cbpe_json = fit_cbpe(rt, holdout, pred, score, d)

    fitted = Fitted(
        frame,
        train,
        holdout,
        specs,
        estimator,
        candidate,
        metrics,
        schema_yaml,
        cbpe_json,
        inputs,
        feedback,
    )
    with rec.stage("register") as d:
        mv = register_version(
            rt, fitted, window=loaded.record, trigger=trigger, pipeline_run=rec.run_id, detail=d
        )
    crash_point("train.after_registered")

    return TrainedVersion(
        version=mv.version,
        mlflow_run_id=mv.run_id,
        pipeline_run=rec.run_id,
        metrics=metrics,
        holdout=holdout,
        challenger=replace(candidate, version=mv.version),
        champion=champion,
        window=loaded.window,
        trigger=trigger,
        rows={
            "total": len(frame),
            "train": len(train),
            "holdout": len(holdout),
            **(
                {}
                if feedback is None
                else {"loaded": feedback.loaded, "feedback": feedback.feedback}
            ),
        },
        loaded=loaded,
    )


def _stored_schema(rt: Runtime, champion: ModelVersion | None, reset: bool) -> str | None:
    """The champion's data contract, unless there is none or `reset` asks to infer anew."""
    if champion is None or reset:
        return None
    try:
        return rt.registry.read_artifact(rt.model, champion.version, "schema.yaml")
    except NotFoundError:
        return None
