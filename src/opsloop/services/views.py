"""Read-only views for `opsloop status`, the API and the dashboard.

Built from the ops store alone (every decision is recorded there), so `opsloop status`
answers without importing MLflow. The JSON fields are documented in docs/cli.md and are
stable: add fields, never rename or remove them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from opsloop.core.evidence import GateReportData
from opsloop.core.summaries import (
    EstimatedPerformance,
    MonitorSummary,
    MultivariateSummary,
    PreviousComparison,
    QualityCheckSummary,
)
from opsloop.redact import redact
from opsloop.services.view_models import (
    AgentView,
    ApprovalView,
    BatchRunView,
    BatchView,
    DayView,
    DeploymentView,
    EstimatedBandView,
    FeatureWindowView,
    GateView,
    InferenceView,
    LastMonitorView,
    LastTriggerView,
    LeaseView,
    LineageView,
    LoadFailureView,
    MonitoringDaysView,
    MonitoringView,
    MultivariateBandView,
    PendingApprovalView,
    PredictionLogView,
    QualityBreachView,
    RolloutCheckView,
    RolloutView,
    RunView,
    ScheduleView,
    ServerView,
    StatusView,
    TrainingView,
    VersionView,
    WindowPreviousView,
    WindowView,
)

if TYPE_CHECKING:
    from pathlib import Path

    from opsloop.config import ProjectConfig
    from opsloop.store.ports import StoreReads
    from opsloop.store.records import (
        BatchRun,
        Deployment,
        GateDecision,
        MonitorResult,
        PipelineRun,
    )


# a replica that wrote no `serve_stats` row for this long is not shown as live
SERVING_WINDOW = timedelta(minutes=5)


def serving_views(
    store: StoreReads, name: str, deployment: Deployment | None, now: datetime
) -> tuple[list[ServerView], list[LoadFailureView]]:
    """What each live replica serves, and the replicas that failed to load the current
    deployment and have not served it since."""
    servers = store.list_serving(name, since=now - SERVING_WINDOW)
    paths: dict[tuple[object, str | None], object] = {}
    if servers:  # the newest load of each (replica, version) wins
        for e in store.list_events(name, kinds=["server_loaded"], limit=1000):
            paths[(e.evidence.get("replica"), e.version)] = e.evidence.get("path")
    views = [
        ServerView(
            replica=r.replica,
            route=r.route,
            version=r.version,
            last_seen=_iso(r.last_seen),
            path=str(paths[(r.replica, r.version)]) if (r.replica, r.version) in paths else None,
        )
        for r in servers
    ]
    if deployment is None:
        return views, []
    failed = store.list_events(name, kinds=["model_load_failed"], since=deployment.ts, limit=100)
    serving = {(r.replica, r.version) for r in servers}  # each replica's newest rows
    failures: list[LoadFailureView] = []
    for e in failed:
        ev = e.evidence
        if ev.get("revision") != deployment.revision:
            continue
        replica = ev.get("replica")
        versions = [str(v) for v in ev.get("versions") or []]
        if versions and all((replica, v) in serving for v in versions):
            continue  # it loaded them after all
        failures.append(
            LoadFailureView(
                replica=replica if isinstance(replica, str) else None,
                revision=deployment.revision,
                versions=versions,
                serving=None if ev.get("serving") is None else str(ev.get("serving")),
                error=redact(str(ev.get("error") or "")) or None,
                ts=_iso(e.ts),
            )
        )
    return views, failures


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _gate_view(gate: GateDecision) -> GateView:
    """The decision's columns, with the primary metric's CI and test, the regressed slices
    and the report's link from its stored evidence."""
    evidence = gate.evidence_model
    report = evidence.report or GateReportData()
    primary = report.primary
    return GateView(
        passed=gate.passed,
        metric=gate.metric,
        challenger_value=gate.challenger_value,
        champion_value=gate.champion_value,
        champion_version=gate.champion_version,
        reasons=gate.reasons,
        ts=_iso(gate.ts),
        method=primary.method,
        improvement=primary.improvement,
        ci_low=primary.ci_low,
        ci_high=primary.ci_high,
        confidence=report.confidence,
        slices_regressed=report.regressed_slices,
        report=evidence.artifacts.get("gate_report.html"),
    )


def _training_view(store: StoreReads, model: str, version: str) -> TrainingView | None:
    """The version's window and data from its `trained` event (None without one)."""
    trained = store.list_events(model, kinds=["trained"], limit=10_000)
    event = next((e for e in reversed(trained) if e.version == version), None)
    if event is None:
        return None
    ev = event.evidence
    found = ev.get("event_time")
    span: dict[str, Any] = found if isinstance(found, dict) else {}
    rows = ev.get("rows")
    return TrainingView(
        window=ev.get("window"),
        anchor=ev.get("anchor"),
        requested=ev.get("requested") or {},
        rows=rows if isinstance(rows, int) else None,
        event_start=span.get("min"),
        event_end=span.get("max"),
    )


def version_view(
    store: StoreReads, name: str, version: str, inference: InferenceView | None = None
) -> VersionView:
    """One version's gate decision, approval, training window and (given, from its
    `registered` event) inference path."""
    gate = store.find_gate(name, version)
    approval = store.find_approval(name, version)
    return VersionView(
        version=version,
        training=_training_view(store, name, version),
        inference=inference,
        gate=None if gate is None else _gate_view(gate),
        approval=None
        if approval is None
        else ApprovalView(
            status=approval.status,
            actor=approval.actor,
            comment=approval.comment,
            ts=_iso(approval.ts),
        ),
    )


def deployment_view(deployment: Deployment) -> DeploymentView:
    return DeploymentView(
        version=deployment.version,
        revision=deployment.revision,
        previous_version=deployment.previous_version,
        strategy=deployment.strategy,
        reason=deployment.reason,
        actor=deployment.actor,
        ts=_iso(deployment.ts),
    )


def registered_versions(store: StoreReads, name: str) -> list[str]:
    """Every registered version, in registration order (from the `registered` events)."""
    registered = store.list_events(name, kinds=["registered"], limit=10_000)
    return [e.version for e in registered if e.version is not None]


def build_versions(store: StoreReads, name: str) -> list[VersionView]:
    """Every registered version, oldest first, with gate, approval, training and inference."""
    registered = store.list_events(name, kinds=["registered"], limit=10_000)
    return [
        version_view(store, name, e.version, _inference_view(e.evidence))
        for e in registered
        if e.version is not None
    ]


def build_lineage(store: StoreReads, name: str, version: str) -> LineageView:
    """Where `version` came from and where it went: its training window, data fingerprint
    and rows (the `trained` event), its MLflow run (the `registered` event), its metrics,
    the trigger and pipeline run that made it, and every deployment revision it served."""
    events = store.list_events(name, kinds=["trained", "registered"], limit=10_000)
    trained = next(
        (e for e in reversed(events) if e.kind == "trained" and e.version == version), None
    )
    registered = next(
        (e for e in reversed(events) if e.kind == "registered" and e.version == version), None
    )
    if registered is None and trained is None:
        from opsloop.errors import NotFoundError

        raise NotFoundError(
            f"{name!r} has no version {version!r} in the ops store",
            fix=f"pick one of: {', '.join(registered_versions(store, name)) or 'none yet'}",
        )
    tev: dict[str, Any] = {} if trained is None else dict(trained.evidence)
    rev: dict[str, Any] = {} if registered is None else dict(registered.evidence)
    found_tags, found_metrics = rev.get("tags"), tev.get("metrics")
    tags: dict[str, Any] = found_tags if isinstance(found_tags, dict) else {}
    metrics: dict[str, Any] = found_metrics if isinstance(found_metrics, dict) else {}
    history = store.list_deployments(name)
    return LineageView(
        version=version,
        training=_training_view(store, name, version),
        fingerprint=tags.get("opsloop.data_fingerprint"),
        code_digest=tags.get("opsloop.code_digest"),
        git_sha=tags.get("opsloop.git_sha"),
        run_id=rev.get("run_id"),
        source=rev.get("source"),
        trigger=tev.get("trigger"),
        pipeline_run=tev.get("pipeline_run"),
        metrics={str(k): v for k, v in metrics.items() if isinstance(v, int | float)},
        registered=None if registered is None else _iso(registered.ts),
        deployments=[deployment_view(d) for d in history if d.version == version],
        batch_runs=[
            batch_run_view(r)
            for r in store.list_batch_runs(name, limit=LINEAGE_BATCH_RUNS, status="succeeded")
            if r.version == version
        ],
    )


# How far back a lineage looks for the version's batch outputs: the newest runs of the model
# (a nightly job's ~2 months); older runs are in `opsloop batch history`.
LINEAGE_BATCH_RUNS = 60


def batch_run_view(run: BatchRun) -> BatchRunView:
    return BatchRunView(
        run_id=run.run_id,
        status=run.status,
        version=run.version,
        rows=run.rows,
        seconds=run.seconds,
        rows_per_second=run.rows_per_second,
        finished=_iso(run.finished),
        output=run.output,
        error=run.error,
    )


def _inference_view(evidence: Mapping[str, Any]) -> InferenceView | None:
    """The compiled-path verdict of a `registered` event (its `inference`, else its tags)."""
    found = evidence.get("inference")
    if isinstance(found, Mapping) and isinstance(found.get("path"), str):
        rows, diff = found.get("rows"), found.get("max_score_diff")
        return InferenceView(
            path=found["path"],
            reason=str(found.get("reason") or ""),
            rows=rows if isinstance(rows, int) else None,
            max_score_diff=diff if isinstance(diff, int | float) else None,
        )
    tags = evidence.get("tags")
    if isinstance(tags, Mapping) and isinstance(tags.get("opsloop.inference_path"), str):
        return InferenceView(
            path=tags["opsloop.inference_path"],
            reason=str(tags.get("opsloop.inference_reason") or ""),
        )
    return None


def _batch_view(store: StoreReads, cfg: ProjectConfig) -> BatchView:
    runs = store.list_batch_runs(cfg.model, limit=1)
    current = store.find_published_batch(cfg.model)
    last = runs[0] if runs else None
    return BatchView(
        last_run=None if last is None else batch_run_view(last),
        current_run_id=None if current is None else current.run_id,
        current_revision=None if current is None else current.revision,
        published=None if current is None else _iso(current.ts),
        schedule=None if cfg.predict is None else cfg.predict.schedule,
    )


def build_status(
    store: StoreReads, cfg: ProjectConfig, prediction_log: Path | None = None
) -> StatusView:
    """The whole operational picture of `cfg.model` (`opsloop status`, `GET /api/status`);
    with `prediction_log` (its root folder) also its quarantined batches and journal."""
    store = cast("StoreReads", _Once(store))
    name = cfg.model
    deployment = store.find_deployment(name)
    registered = store.list_events(name, kinds=["registered"], limit=10_000)
    versions = [e.version for e in registered if e.version is not None]
    inference = {e.version: _inference_view(e.evidence) for e in registered}
    champion = deployment.version if deployment else None
    challenger = None
    for version in reversed(versions):
        if version == champion:
            break
        approval = store.find_approval(name, version)
        if approval is None or approval.status != "rejected":
            challenger = version
            break

    rollout = store.find_rollout(name)
    last = store.find_last_monitor(name)
    summary = None if last is None else _status_summary(last.summary)
    runs = store.list_runs(name, limit=5)
    firings = store.list_firings(name)
    from opsloop.lease import agent_lease_name
    from opsloop.orchestrate.manual import list_requests
    from opsloop.orchestrate.outlook import cooldown_until, next_run, trigger_outlook

    lease = store.find_lease(agent_lease_name(name))
    running = store.list_running_runs(name)

    now = datetime.now(UTC)
    servers, load_failures = serving_views(store, name, deployment, now)
    return StatusView(
        servers=servers,
        load_failures=load_failures,
        model=name,
        task=cfg.task,
        stack=cfg.stack,
        champion=None
        if champion is None
        else version_view(store, name, champion, inference.get(champion)),
        challenger=None
        if challenger is None
        else version_view(store, name, challenger, inference.get(challenger)),
        deployment=None if deployment is None else deployment_view(deployment),
        rollout=None
        if rollout is None
        else RolloutView(
            id=rollout.id,
            strategy=rollout.strategy,
            status=rollout.status,
            stable_version=rollout.stable_version,
            candidate_version=rollout.candidate_version,
            steps=rollout.steps,
            step=rollout.step,
            share=rollout.share,
            started=_iso(rollout.started),
            step_started=_iso(rollout.step_started),
            finished=_iso(rollout.finished),
            actor=rollout.actor,
            reason=rollout.reason,
            analysed=_iso(rollout.analysed),
            verdict=rollout.analysis_model.verdict,
            analysis_reasons=rollout.analysis_model.reasons,
            checks=[
                RolloutCheckView(name=c.name, status=c.status, value=c.value, limit=c.limit)
                for c in rollout.analysis_model.checks
            ],
        ),
        last_monitor=None
        if last is None or summary is None
        else LastMonitorView(
            ts=_iso(last.ts),
            version=last.version,
            window_start=_iso(last.window_start),
            window_end=_iso(last.window_end),
            n_rows=last.n_rows,
            n_labelled=last.n_labelled,
            drift_detected=last.drift_detected,
            drift_judged=summary.drift_judged,
            drift_share=last.drift_share,
            drifted_features=summary.drifted_features,
            multivariate=_raw(summary.multivariate),
            performance_metric=last.performance_metric,
            performance_value=last.performance_value,
            performance_degraded=last.performance_degraded,
            estimated_performance=_raw(summary.estimated_performance),
            quality_passed=_quality_passed(summary),
            quality_breaches=[
                QualityBreachView(
                    check=c.check,
                    feature=c.feature,
                    value=c.value,
                    expected=c.expected,
                    detail=c.detail,
                )
                for c in _breaches(summary)
            ],
            report_path=last.report_path,
            newly_drifted=summary.newly_drifted,
            recovered=summary.recovered,
        ),
        pending_approvals=[
            PendingApprovalView(
                version=a.version,
                since=_iso(a.ts),
                comment=a.comment,
                expires=None
                if cfg.gate.approval_expiry is None
                else _iso(a.ts + cfg.gate.approval_expiry),
            )
            for a in store.list_pending(name)
        ],
        versions=versions,
        schedule=ScheduleView(
            monitor=cfg.monitor.schedule,
            monitor_next=_iso(next_run(cfg.monitor.schedule, now)),
            retrain=cfg.retrain.schedule,
            retrain_on=list(cfg.retrain.on),
            last_trigger=None
            if not firings
            else LastTriggerView(
                trigger=firings[-1].trigger,
                key=firings[-1].key,
                ts=_iso(firings[-1].ts),
            ),
            cooldown_until=_iso(cooldown_until(cfg, firings, now)),
            triggers=trigger_outlook(store, cfg, name, now),
        ),
        retrain_requests=[r.to_dict() for r in list_requests(store, name, limit=10)],
        runs=[_run_view(r) for r in runs],
        running=[_run_view(r) for r in running],
        agent=AgentView(
            lease=None
            if lease is None
            else LeaseView(
                holder=lease.holder,
                token=lease.token,
                acquired=_iso(lease.acquired),
                renewed=_iso(lease.renewed),
                expires=_iso(lease.expires),
                live=lease.live(now),
            ),
            lease_ttl=cfg.agent.lease_ttl.total_seconds(),
            heartbeat_timeout=cfg.agent.heartbeat_timeout.total_seconds(),
        ),
        prediction_log=None if prediction_log is None else _log_view(prediction_log, name),
        batch=_batch_view(store, cfg),
    )


class _Once:
    """The reads of one status build, each distinct read made once: a status's ~30 reads
    repeat a third of themselves (the last window, the firings, the runs, ...) across the
    parts that need them. It lives for one call: nothing in it can go stale."""

    def __init__(self, store: StoreReads) -> None:
        self._store = store
        self._seen: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if not name.startswith(("find_", "list_")):
            return method

        def once(*args: Any, **kwargs: Any) -> Any:
            key = repr((name, args, sorted(kwargs.items())))
            if key not in self._seen:
                self._seen[key] = method(*args, **kwargs)
            found = self._seen[key]
            return list(found) if isinstance(found, list) else found  # a caller's own list

        return once


def _status_summary(summary: Mapping[str, Any]) -> MonitorSummary:
    """The last window's summary as status shows it: its digest (no histograms: a third of
    the decoding) with the estimated performance and data-quality checks whole."""
    from opsloop.core.digest import digest

    out = digest(summary)
    for key in ("estimated_performance", "quality"):
        if key in summary:
            out[key] = summary[key]
    return MonitorSummary.parse(out)


def _log_view(root: Path, model: str) -> PredictionLogView:
    from opsloop.data.predlog import log_health

    health = log_health(root, model)
    return PredictionLogView(
        quarantine=health.quarantine,
        quarantined_batches=health.quarantined_batches,
        quarantined_rows=health.quarantined_rows,
        journal_segments=health.journal_segments,
    )


def _run_view(r: PipelineRun) -> RunView:
    return RunView(
        id=r.id,
        pipeline=r.pipeline,
        status=r.status,
        trigger=r.trigger,
        started=_iso(r.started),
        finished=_iso(r.finished),
        error=None if r.error is None else redact(r.error),  # rows written before redaction
        heartbeat=_iso(r.heartbeat),
        stages=[f"{s.get('name')}:{s.get('status', '?')}" for s in r.stages],
    )


def _quality_passed(s: MonitorSummary) -> bool | None:
    return None if s.quality is None else s.quality.passed


def _breaches(s: MonitorSummary) -> list[QualityCheckSummary]:
    return [] if s.quality is None else s.quality.breaches


def _raw(value: EstimatedPerformance | MultivariateSummary | None) -> dict[str, Any] | None:
    return None if value is None else value.to_json()


def _estimated_band(value: EstimatedPerformance | None) -> EstimatedBandView | None:
    if value is None:
        return None
    return EstimatedBandView(
        value=value.value, lower=value.lower, upper=value.upper, degraded=value.degraded
    )


def _multivariate_band(value: MultivariateSummary | None) -> MultivariateBandView | None:
    if value is None:
        return None
    return MultivariateBandView(
        value=value.value, lower=value.lower, upper=value.upper, drifted=value.drifted
    )


def _window_previous(previous: PreviousComparison | None) -> WindowPreviousView | None:
    if previous is None or not previous.to_json():
        return None
    return WindowPreviousView(
        id=previous.id,
        newly_drifted=previous.newly_drifted,
        recovered=previous.recovered,
        drift_share_change=None if previous.drift_share is None else previous.drift_share.change,
        performance_change=None if previous.performance is None else previous.performance.change,
    )


def monitor_window_view(r: MonitorResult) -> WindowView:
    """One monitored window, compact (what a chart over time needs): per-feature verdict
    statistics, drift share, realised and estimated performance, the multivariate score,
    the data-quality verdict and the change since the previous window. Keys of summaries
    written by older opsloops are null."""
    s = r.summary_model
    return WindowView(
        id=r.id,
        ts=_iso(r.ts),
        version=r.version,
        window_start=_iso(r.window_start),
        window_end=_iso(r.window_end),
        n_rows=r.n_rows,
        n_labelled=r.n_labelled,
        drift_detected=r.drift_detected,
        drift_judged=s.drift_judged,
        drift_share=r.drift_share,
        drifted_features=s.drifted_features,
        features={
            f.name: FeatureWindowView(
                test=f.test,
                statistic=f.statistic,
                p_value=f.p_value,
                threshold=f.threshold,
                drifted=f.drifted,
                status=f.status,
                verdict=f.outcome,
                effect=f.effect,
                effect_size=f.effect_size,
                floor=f.floor,
            )
            for f in s.features
            if f.name is not None
        },
        performance_metric=r.performance_metric,
        performance_value=r.performance_value,
        performance_degraded=r.performance_degraded,
        estimated_performance=_estimated_band(s.estimated_performance),
        multivariate=_multivariate_band(s.multivariate),
        quality_passed=_quality_passed(s),
        previous=_window_previous(s.previous),
        report_path=r.report_path,
    )


def build_monitoring(
    store: StoreReads,
    model: str,
    *,
    limit: int = 48,
    version: str | None = None,
    end_before: datetime | None = None,
) -> MonitoringView:
    """The `limit` latest monitored windows (of one version, or all; ending before
    `end_before`), oldest first."""
    results = store.list_monitor_windows(
        model, version=version, limit=limit, end_before=end_before, digests=True
    )
    return MonitoringView(
        model=model,
        version=version,
        windows=[monitor_window_view(r) for r in results],
    )


def build_monitoring_days(
    store: StoreReads,
    model: str,
    *,
    limit: int,
    version: str | None = None,
    end_before: datetime | None = None,
) -> MonitoringDaysView:
    """The `limit` latest windows (ending before `end_before`) aggregated per day in SQL."""
    days = store.list_monitor_days(model, version=version, limit=limit, end_before=end_before)
    return MonitoringDaysView(
        model=model,
        version=version,
        limit=limit,
        windows=sum(d.windows for d in days),
        days=[
            DayView(
                **{
                    **{f.name: getattr(d, f.name) for f in dataclasses.fields(d)},
                    "first_start": _iso(d.first_start),
                    "last_end": _iso(d.last_end),
                }
            )
            for d in days
        ],
    )
