"""The training pipeline as recorded stages.

load → validate (pandera contract, inferred on first training) → time split → fit →
evaluate → register in MLflow (params, metrics, dataset input with digest, model with
signature and example, features, schema and reference profile as artifacts; alias
`challenger`) → gate against the champion on the same holdout → approval (auto or
manual) → promotion.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from opsloop.data.window import Window
from opsloop.errors import (
    DataValidationError,
    NotFoundError,
    OpsloopError,
    StateError,
    UserCodeError,
)
from opsloop.runtime import Runtime
from opsloop.stages import Progress, StageRecorder

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.core.profile import Profile
    from opsloop.data.features import FeatureSpec
    from opsloop.lease import HeldLease


@dataclass(frozen=True)
class TrainOutcome:
    run_id: int
    version: str
    metrics: dict[str, float]
    gate_passed: bool
    gate_reasons: list[str]
    approval: str  # approved | pending | none (gate failed)
    promoted: bool
    champion_version: str | None
    rows: dict[str, int] = field(default_factory=dict)
    rollout: int | None = None  # id of the canary/shadow rollout it started, if any

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _git_sha(root: Any) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _check_columns(rt: Runtime, frame: pd.DataFrame) -> None:
    cfg = rt.config
    needed = [cfg.target, cfg.id_column, cfg.time_column, *(cfg.features or ())]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"load(window) returned a frame without the column(s) {missing}",
            expected=f"columns {needed} (target, id_column, time_column, features)",
            got=f"columns {list(frame.columns)}",
            fix="return them from load() or correct opsloop.yaml",
        )


def run_training(
    rt: Runtime,
    *,
    window: Window | None = None,
    trigger: str = "manual",
    reset_schema: bool = False,
    progress: Progress | None = None,
) -> TrainOutcome:
    """Run the pipeline; StateError if another training of the model is running."""
    cfg = rt.config
    window = window or Window.last(cfg.retrain.training_window, end=rt.now())
    slot = _training_slot(rt)
    try:
        return _run(rt, slot, window, trigger, reset_schema, progress)
    finally:
        slot.release()


def _training_slot(rt: Runtime) -> HeldLease:
    """The concurrency limit: one training pipeline of a model at a time, as a lease that
    the run's heartbeat renews (a crashed run's lease expires with its heartbeat)."""
    from opsloop.lease import HeldLease, training_lease_name

    slot = HeldLease(rt.store, training_lease_name(rt.model), rt.config.agent.heartbeat_timeout)
    if not slot.acquire():
        running = rt.store.list_running_runs(rt.model, "train")
        raise StateError(
            f"a training pipeline of {rt.model!r} is already running"
            + (f" (run {running[-1].id}, trigger {running[-1].trigger})" if running else ""),
            fix="wait for it to finish (`opsloop status` shows it); a crashed run is released "
            f"after agent.heartbeat_timeout ({rt.config.agent.heartbeat_timeout})",
        )
    return slot


def _load_with_retries(
    rt: Runtime, window: Window, detail: dict[str, Any], sleep: Callable[[float], None] = time.sleep
) -> pd.DataFrame:
    """The user's load(), retried `retrain.retries` times with doubling back-off when it
    raises (a flaky warehouse or network); a wrong return type is not retried."""
    cfg = rt.config.retrain
    failures: list[dict[str, Any]] = []
    for attempt in range(cfg.retries + 1):
        try:
            frame = rt.load_data(window)
        except UserCodeError as exc:
            if exc.__cause__ is None or attempt == cfg.retries:
                if failures:
                    detail["retries"] = failures
                raise
            wait = cfg.backoff.total_seconds() * 2**attempt
            failures.append({"attempt": attempt + 1, "error": exc.what, "retry_in": wait})
            detail["retries"] = failures
            sleep(wait)
            continue
        if failures:
            detail["retries"] = failures
        return frame
    raise AssertionError("unreachable")


def _fit_cbpe(
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


def _run(
    rt: Runtime,
    slot: HeldLease,
    window: Window,
    trigger: str,
    reset_schema: bool,
    progress: Progress | None,
) -> TrainOutcome:
    from opsloop.core.aliases import CHALLENGER, CHAMPION
    from opsloop.core.profile import compute_profile
    from opsloop.data.features import features_to_json, infer_features
    from opsloop.data.fingerprint import fingerprint
    from opsloop.data.quality import check_quality, require_quality
    from opsloop.data.schema import infer_data_schema, validate_frame
    from opsloop.deploy.controller import record_approval
    from opsloop.deploy.rollout import deploy
    from opsloop.gate.record import gate_and_record
    from opsloop.metrics import compute_metrics
    from opsloop.monitor.quality import EXPECTATIONS_ARTIFACT, learn_expectations
    from opsloop.registry.base import LoadedModel, TrainingRecord
    from opsloop.store.records import Rollout

    cfg = rt.config
    rec = StageRecorder(
        rt.store,
        rt.model,
        "train",
        trigger=trigger,
        progress=progress,
        heartbeat_interval=cfg.agent.heartbeat_interval.total_seconds(),
        on_beat=slot.renew,
    )
    try:
        with rec.stage("load") as d:
            d["window"] = window.key
            frame = _load_with_retries(rt, window, d)
            _check_columns(rt, frame)
            d.update(rows=len(frame))

        champion = rt.registry.find_alias(rt.model, CHAMPION)
        with rec.stage("validate") as d:
            schema_yaml = None
            if champion is not None and not reset_schema:
                try:
                    schema_yaml = rt.registry.read_artifact(
                        rt.model, champion.version, "schema.yaml"
                    )
                except NotFoundError:
                    schema_yaml = None
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
                rt.store.add_event(
                    "data_invalid",
                    rt.model,
                    summary=str(exc),
                    evidence={"window": window.key, "trigger": trigger, "quality": d["quality"]},
                )
                raise

        with rec.stage("split") as d:
            from opsloop.data.split import time_split

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

        challenger_model = LoadedModel(rt.model, "candidate", estimator, specs, cfg.task)
        with rec.stage("evaluate") as d:
            pred, score = challenger_model.predict_frame(holdout)
            metrics = compute_metrics(cfg.task, holdout[cfg.target].to_numpy(), pred, score)
            d["metrics"] = metrics
            cbpe_json = _fit_cbpe(rt, holdout, pred, score, d)

        with rec.stage("register") as d:
            primary = cfg.gate.primary.metric
            reference = frame.copy()
            _, ref_score = challenger_model.predict_frame(reference)
            from opsloop.data.features import FeatureSpec

            profile_specs = list(specs)
            if ref_score is not None:
                reference["score"] = ref_score
                profile_specs.append(FeatureSpec("score", "numeric", "float64", False))
            profile = compute_profile(reference, profile_specs)
            extra = _monitor_artifacts(rt, reference, specs, profile_specs, profile, d)
            digest = fingerprint(frame)
            tags = {
                "opsloop.data_fingerprint": digest,
                "opsloop.window": window.key,
                "opsloop.trigger": trigger,
                "opsloop.train_rows": str(len(train)),
                "opsloop.holdout_rows": str(len(holdout)),
                "opsloop.reference_profile": "opsloop/reference_profile.json",
            }
            sha = _git_sha(rt.root)
            if sha:
                tags["opsloop.git_sha"] = sha
            params: dict[str, Any] = {"opsloop.features": ",".join(names)}
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
                    "schema.yaml": schema_yaml,
                    "reference_profile.json": profile.to_json(),
                    EXPECTATIONS_ARTIFACT: learn_expectations(
                        frame, specs, cfg.time_column
                    ).to_json(),
                    "features.json": features_to_json(specs),
                    **({} if cbpe_json is None else {"cbpe.json": cbpe_json}),
                    **extra,
                },
                experiment=rt.model,
            )
            mv = rt.registry.register(record)
            rt.registry.set_alias(rt.model, CHALLENGER, mv.version)
            version = mv.version
            d.update(version=version, run_id=mv.run_id)
            rt.store.add_event(
                "trained",
                rt.model,
                version=version,
                summary=f"{primary}={metrics.get(primary, float('nan')):.4f} "
                f"on {len(holdout)} holdout rows",
                evidence={
                    "metrics": metrics,
                    "rows": len(frame),
                    "window": window.key,
                    "trigger": trigger,
                    "pipeline_run": rec.run_id,
                },
            )
            rt.store.add_event(
                "registered",
                rt.model,
                version=version,
                summary=f"registered {rt.model} version {version} (alias challenger)",
                evidence={"run_id": mv.run_id, "source": mv.source, "tags": tags},
            )

        with rec.stage("gate") as d:
            champion_model = None
            if champion is not None:
                champion_model = rt.registry.load(rt.model, champion.version)
            report, decision = gate_and_record(
                rt,
                holdout=holdout,
                challenger=replace(challenger_model, version=version),
                champion=champion_model,
                window=window.key,
            )
            champion_version = report.champion_version
            d.update(
                passed=decision.passed, reasons=decision.reasons, champion_version=champion_version
            )

        approval = "none"
        promoted = False
        rollout: int | None = None
        with rec.stage("approve") as d:
            if decision.passed and cfg.gate.approval == "auto":
                record_approval(
                    rt,
                    version,
                    "approved",
                    actor="opsloop (auto)",
                    comment="gate passed; approval policy is auto",
                )
                started = deploy(
                    rt,
                    version,
                    actor="opsloop (auto)",
                    supersede=True,
                    reason=f"gate passed ({'; '.join(decision.reasons)})",
                )
                approval = "approved"
                if isinstance(started, Rollout):
                    rollout = started.id
                else:
                    promoted = True
            elif decision.passed:
                record_approval(
                    rt,
                    version,
                    "pending",
                    actor="opsloop",
                    comment="gate passed; waiting for a person "
                    f"(`opsloop approve {rt.model} {version}`)",
                )
                approval = "pending"
            d.update(approval=approval, promoted=promoted, rollout=rollout)
        outcome = TrainOutcome(
            run_id=rec.run_id,
            version=version,
            metrics=metrics,
            gate_passed=decision.passed,
            gate_reasons=decision.reasons,
            approval=approval,
            promoted=promoted,
            champion_version=champion_version,
            rollout=rollout,
            rows={"total": len(frame), "train": len(train), "holdout": len(holdout)},
        )
        rec.succeed(outcome.to_dict())
        return outcome
    except (OpsloopError, KeyboardInterrupt) as exc:
        rec.fail(exc)
        rt.store.add_event(
            "training_failed",
            rt.model,
            summary=str(exc) or type(exc).__name__,
            evidence={
                "trigger": trigger,
                "pipeline_run": rec.run_id,
                "stage": rec.stages[-1]["name"] if rec.stages else None,
            },
        )
        raise
