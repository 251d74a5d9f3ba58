"""Read-only views for `opsloop status`, the API and the dashboard.

Built from the ops store alone (every decision is recorded there), so `opsloop status`
answers without importing MLflow. The JSON fields are documented in docs/cli.md and are
stable: add fields, never rename or remove them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsloop.project import Project
    from opsloop.store.records import PipelineRun


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _gate_extra(evidence: dict[str, Any]) -> dict[str, Any]:
    """CI, test and report links of the primary metric, from the stored gate report."""
    report = evidence.get("report") or {}
    primary = (report.get("metrics") or [{}])[0]
    return {
        "method": primary.get("method"), "improvement": primary.get("improvement"),
        "ci_low": primary.get("ci_low"), "ci_high": primary.get("ci_high"),
        "confidence": report.get("confidence"),
        "slices_regressed": [s["slice"] for s in report.get("slices", [])
                             if s.get("status") == "regressed"],
        "report": (evidence.get("artifacts") or {}).get("gate_report.html"),
    }


def build_status(project: Project) -> dict[str, Any]:
    store = project.store
    name = project.name
    cfg = project.config
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
            "gate": None if gate is None else {
                "passed": gate.passed, "metric": gate.metric,
                "challenger_value": gate.challenger_value,
                "champion_value": gate.champion_value, "champion_version": gate.champion_version,
                "reasons": gate.reasons, "ts": _iso(gate.ts),
                **_gate_extra(gate.evidence),
            },
            "approval": None if approval is None else {
                "status": approval.status, "actor": approval.actor,
                "comment": approval.comment, "ts": _iso(approval.ts),
            },
        }

    rollout = store.find_rollout(name)
    last = store.find_last_monitor(name)
    runs = store.list_runs(name, limit=5)
    firings = store.list_firings(name)
    from opsloop.lease import agent_lease_name
    from opsloop.orchestrate.agent import next_run

    lease = store.find_lease(agent_lease_name(name))
    running = store.list_running_runs(name)
    last_by_trigger = {f.trigger: f for f in firings}

    now = datetime.now(UTC)
    return {
        "model": name,
        "task": cfg.task,
        "stack": cfg.stack,
        "champion": version_view(champion),
        "challenger": version_view(challenger),
        "deployment": None if deployment is None else {
            "version": deployment.version, "revision": deployment.revision,
            "previous_version": deployment.previous_version, "strategy": deployment.strategy,
            "reason": deployment.reason, "actor": deployment.actor, "ts": _iso(deployment.ts),
        },
        "rollout": None if rollout is None else {
            "id": rollout.id, "strategy": rollout.strategy, "status": rollout.status,
            "stable_version": rollout.stable_version,
            "candidate_version": rollout.candidate_version, "steps": rollout.steps,
            "step": rollout.step, "share": rollout.share, "started": _iso(rollout.started),
            "step_started": _iso(rollout.step_started), "finished": _iso(rollout.finished),
            "actor": rollout.actor, "reason": rollout.reason,
            "analysed": _iso(rollout.analysed),
            "verdict": rollout.analysis.get("verdict"),
            "analysis_reasons": rollout.analysis.get("reasons", []),
            "checks": [{k: c.get(k) for k in ("name", "status", "value", "limit")}
                       for c in rollout.analysis.get("checks", [])],
        },
        "last_monitor": None if last is None else {
            "ts": _iso(last.ts), "version": last.version,
            "window_start": _iso(last.window_start), "window_end": _iso(last.window_end),
            "n_rows": last.n_rows, "n_labelled": last.n_labelled,
            "drift_detected": last.drift_detected, "drift_share": last.drift_share,
            "drifted_features": last.summary.get("drifted_features", []),
            "multivariate": last.summary.get("multivariate"),
            "performance_metric": last.performance_metric,
            "performance_value": last.performance_value,
            "performance_degraded": last.performance_degraded,
            "report_path": last.report_path,
        },
        "pending_approvals": [
            {"version": a.version, "since": _iso(a.ts), "comment": a.comment,
             "expires": None if cfg.gate.approval_expiry is None
             else _iso(a.ts + cfg.gate.approval_expiry)}
            for a in store.list_pending(name)
        ],
        "versions": versions,
        "schedule": {
            "monitor": cfg.monitor.schedule,
            "monitor_next": _iso(next_run(cfg.monitor.schedule, now)),
            "retrain": cfg.retrain.schedule,
            "retrain_on": list(cfg.retrain.on),
            "last_trigger": None if not firings else {
                "trigger": firings[-1].trigger, "key": firings[-1].key,
                "ts": _iso(firings[-1].ts),
            },
            "triggers": [
                {"trigger": trigger, "last_key": f.key if f else None,
                 "last_ts": _iso(f.ts) if f else None}
                for trigger in (*cfg.retrain.on, "resume")
                for f in [last_by_trigger.get(trigger)]
            ],
        },
        "runs": [_run_view(r) for r in runs],
        "running": [_run_view(r) for r in running],
        "agent": {
            "lease": None if lease is None else {
                "holder": lease.holder, "token": lease.token, "acquired": _iso(lease.acquired),
                "renewed": _iso(lease.renewed), "expires": _iso(lease.expires),
                "live": lease.live(now),
            },
            "lease_ttl": cfg.agent.lease_ttl.total_seconds(),
            "heartbeat_timeout": cfg.agent.heartbeat_timeout.total_seconds(),
        },
    }


def _run_view(r: PipelineRun) -> dict[str, Any]:
    return {"id": r.id, "pipeline": r.pipeline, "status": r.status, "trigger": r.trigger,
            "started": _iso(r.started), "finished": _iso(r.finished), "error": r.error,
            "heartbeat": _iso(r.heartbeat),
            "stages": [f"{s.get('name')}:{s.get('status', '?')}" for s in r.stages]}
