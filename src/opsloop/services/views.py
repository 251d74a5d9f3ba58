"""Read-only views for `opsloop status`, the API and the dashboard.

Built from the ops store alone (every decision is recorded there), so `opsloop status`
answers without importing MLflow. The JSON fields are documented in docs/cli.md and are
stable: add fields, never rename or remove them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsloop.config import ProjectConfig
    from opsloop.store import OpsStore
    from opsloop.store.records import MonitorResult, PipelineRun


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _gate_extra(evidence: dict[str, Any]) -> dict[str, Any]:
    """CI, test and report links of the primary metric, from the stored gate report."""
    report = evidence.get("report") or {}
    primary = (report.get("metrics") or [{}])[0]
    return {
        "method": primary.get("method"),
        "improvement": primary.get("improvement"),
        "ci_low": primary.get("ci_low"),
        "ci_high": primary.get("ci_high"),
        "confidence": report.get("confidence"),
        "slices_regressed": [
            s["slice"] for s in report.get("slices", []) if s.get("status") == "regressed"
        ],
        "report": (evidence.get("artifacts") or {}).get("gate_report.html"),
    }


def build_status(store: OpsStore, cfg: ProjectConfig) -> dict[str, Any]:
    """The whole operational picture of `cfg.model` (`opsloop status`, `GET /api/status`)."""
    name = cfg.model
    deployment = store.find_deployment(name)
    registered = store.list_events(name, kinds=["registered"], limit=10_000)
    versions = [e.version for e in registered if e.version is not None]
    champion = deployment.version if deployment else None
    challenger = None
    for version in reversed(versions):
        if version == champion:
            break
        approval = store.find_approval(name, version)
        if approval is None or approval.status != "rejected":
            challenger = version
            break

    def version_view(version: str | None) -> dict[str, Any] | None:
        if version is None:
            return None
        gate = store.find_gate(name, version)
        approval = store.find_approval(name, version)
        return {
            "version": version,
            "gate": None
            if gate is None
            else {
                "passed": gate.passed,
                "metric": gate.metric,
                "challenger_value": gate.challenger_value,
                "champion_value": gate.champion_value,
                "champion_version": gate.champion_version,
                "reasons": gate.reasons,
                "ts": _iso(gate.ts),
                **_gate_extra(gate.evidence),
            },
            "approval": None
            if approval is None
            else {
                "status": approval.status,
                "actor": approval.actor,
                "comment": approval.comment,
                "ts": _iso(approval.ts),
            },
        }

    rollout = store.find_rollout(name)
    last = store.find_last_monitor(name)
    runs = store.list_runs(name, limit=5)
    firings = store.list_firings(name)
    from opsloop.lease import agent_lease_name
    from opsloop.orchestrate.agent import next_run
    from opsloop.orchestrate.manual import list_requests
    from opsloop.orchestrate.outlook import cooldown_until, trigger_outlook

    lease = store.find_lease(agent_lease_name(name))
    running = store.list_running_runs(name)

    now = datetime.now(UTC)
    return {
        "model": name,
        "task": cfg.task,
        "stack": cfg.stack,
        "champion": version_view(champion),
        "challenger": version_view(challenger),
        "deployment": None
        if deployment is None
        else {
            "version": deployment.version,
            "revision": deployment.revision,
            "previous_version": deployment.previous_version,
            "strategy": deployment.strategy,
            "reason": deployment.reason,
            "actor": deployment.actor,
            "ts": _iso(deployment.ts),
        },
        "rollout": None
        if rollout is None
        else {
            "id": rollout.id,
            "strategy": rollout.strategy,
            "status": rollout.status,
            "stable_version": rollout.stable_version,
            "candidate_version": rollout.candidate_version,
            "steps": rollout.steps,
            "step": rollout.step,
            "share": rollout.share,
            "started": _iso(rollout.started),
            "step_started": _iso(rollout.step_started),
            "finished": _iso(rollout.finished),
            "actor": rollout.actor,
            "reason": rollout.reason,
            "analysed": _iso(rollout.analysed),
            "verdict": rollout.analysis.get("verdict"),
            "analysis_reasons": rollout.analysis.get("reasons", []),
            "checks": [
                {k: c.get(k) for k in ("name", "status", "value", "limit")}
                for c in rollout.analysis.get("checks", [])
            ],
        },
        "last_monitor": None
        if last is None
        else {
            "ts": _iso(last.ts),
            "version": last.version,
            "window_start": _iso(last.window_start),
            "window_end": _iso(last.window_end),
            "n_rows": last.n_rows,
            "n_labelled": last.n_labelled,
            "drift_detected": last.drift_detected,
            "drift_share": last.drift_share,
            "drifted_features": last.summary.get("drifted_features", []),
            "multivariate": last.summary.get("multivariate"),
            "performance_metric": last.performance_metric,
            "performance_value": last.performance_value,
            "performance_degraded": last.performance_degraded,
            "estimated_performance": last.summary.get("estimated_performance"),
            "quality_passed": (last.summary.get("quality") or {}).get("passed"),
            "quality_breaches": [
                {k: c.get(k) for k in ("check", "feature", "value", "expected", "detail")}
                for c in (last.summary.get("quality") or {}).get("checks", [])
                if c.get("status") == "breach"
            ],
            "report_path": last.report_path,
            "newly_drifted": (last.summary.get("previous") or {}).get("newly_drifted", []),
            "recovered": (last.summary.get("previous") or {}).get("recovered", []),
        },
        "pending_approvals": [
            {
                "version": a.version,
                "since": _iso(a.ts),
                "comment": a.comment,
                "expires": None
                if cfg.gate.approval_expiry is None
                else _iso(a.ts + cfg.gate.approval_expiry),
            }
            for a in store.list_pending(name)
        ],
        "versions": versions,
        "schedule": {
            "monitor": cfg.monitor.schedule,
            "monitor_next": _iso(next_run(cfg.monitor.schedule, now)),
            "retrain": cfg.retrain.schedule,
            "retrain_on": list(cfg.retrain.on),
            "last_trigger": None
            if not firings
            else {
                "trigger": firings[-1].trigger,
                "key": firings[-1].key,
                "ts": _iso(firings[-1].ts),
            },
            "cooldown_until": _iso(cooldown_until(cfg, firings, now)),
            "triggers": trigger_outlook(store, cfg, name, now),
        },
        "retrain_requests": [r.to_dict() for r in list_requests(store, name, limit=10)],
        "runs": [_run_view(r) for r in runs],
        "running": [_run_view(r) for r in running],
        "agent": {
            "lease": None
            if lease is None
            else {
                "holder": lease.holder,
                "token": lease.token,
                "acquired": _iso(lease.acquired),
                "renewed": _iso(lease.renewed),
                "expires": _iso(lease.expires),
                "live": lease.live(now),
            },
            "lease_ttl": cfg.agent.lease_ttl.total_seconds(),
            "heartbeat_timeout": cfg.agent.heartbeat_timeout.total_seconds(),
        },
    }


def _run_view(r: PipelineRun) -> dict[str, Any]:
    return {
        "id": r.id,
        "pipeline": r.pipeline,
        "status": r.status,
        "trigger": r.trigger,
        "started": _iso(r.started),
        "finished": _iso(r.finished),
        "error": r.error,
        "heartbeat": _iso(r.heartbeat),
        "stages": [f"{s.get('name')}:{s.get('status', '?')}" for s in r.stages],
    }


def _band(value: Any, flag: str) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {k: value.get(k) for k in ("value", "lower", "upper", flag)}


def monitor_window_view(r: MonitorResult) -> dict[str, Any]:
    """One monitored window, compact (what a chart over time needs): per-feature verdict
    statistics, drift share, realised and estimated performance, the multivariate score,
    the data-quality verdict and the change since the previous window. Keys of summaries
    written by older opsloops are null."""
    s = r.summary
    previous = s.get("previous") or {}
    quality = s.get("quality")
    return {
        "id": r.id,
        "ts": _iso(r.ts),
        "version": r.version,
        "window_start": _iso(r.window_start),
        "window_end": _iso(r.window_end),
        "n_rows": r.n_rows,
        "n_labelled": r.n_labelled,
        "drift_detected": r.drift_detected,
        "drift_share": r.drift_share,
        "drifted_features": s.get("drifted_features", []),
        "features": {
            f["name"]: {
                k: f.get(k)
                for k in ("test", "statistic", "p_value", "threshold", "drifted", "status")
            }
            for f in (s.get("drift") or {}).get("features", [])
            if "name" in f
        },
        "performance_metric": r.performance_metric,
        "performance_value": r.performance_value,
        "performance_degraded": r.performance_degraded,
        "estimated_performance": _band(s.get("estimated_performance"), "degraded"),
        "multivariate": _band(s.get("multivariate"), "drifted"),
        "quality_passed": quality.get("passed") if isinstance(quality, dict) else None,
        "previous": None
        if not previous
        else {
            "id": previous.get("id"),
            "newly_drifted": previous.get("newly_drifted", []),
            "recovered": previous.get("recovered", []),
            "drift_share_change": (previous.get("drift_share") or {}).get("change"),
            "performance_change": (previous.get("performance") or {}).get("change"),
        },
        "report_path": r.report_path,
    }


def build_monitoring(
    store: OpsStore, model: str, *, limit: int = 48, version: str | None = None
) -> dict[str, Any]:
    """The `limit` latest monitored windows (of one version, or all), oldest first."""
    results = store.list_monitor_windows(model, version=version, limit=limit, digests=True)
    return {
        "model": model,
        "version": version,
        "windows": [monitor_window_view(r) for r in results],
    }
