"""Rich rendering of command results (tables, progress)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:  # the typed models are imported where used: `opsloop events` needs none
    from rich.status import Status

    from opsloop.core.summaries import (
        EstimatedPerformance,
        FeatureDriftSummary,
        MultivariateSummary,
    )
    from opsloop.monitor.backfill import BackfillResult
    from opsloop.monitor.datasets import DatasetComparison
    from opsloop.orchestrate.agent import TickResult
    from opsloop.orchestrate.loop import TrainOutcome
    from opsloop.project import Project
    from opsloop.services.view_models import (
        EstimatedBandView,
        MonitoringView,
        MultivariateBandView,
        StatusView,
        TrainingView,
        VersionView,
    )
    from opsloop.store.records import Event, MonitorResult


class StageProgress:
    """A spinner naming the running stage, and a tick line per finished stage."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self._status: Status | None = None
        self.warnings: list[str] = []  # printed as they came (`print_train` skips them)

    def __enter__(self) -> StageProgress:
        self._status = self.console.status(f"{self.title}…")
        self._status.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.__exit__(exc_type, exc, tb)

    def __call__(self, stage: str, message: str) -> None:
        if message == "started" and self._status is not None:
            self._status.update(f"{self.title}: [bold]{stage}[/]…")
        elif message == "done":
            self.console.print(f"  [green]✓[/] {stage}")
        elif message.startswith("warning: "):
            self.warnings.append(message.removeprefix("warning: "))
            self.console.print(f"  [yellow]warning:[/] {self.warnings[-1]}", soft_wrap=True)


def print_table(console: Console, table: Table) -> None:
    """Print a table whole. On a terminal Rich fits it to the window; off a terminal (a
    pipe, a file, CI) there is no window to fit, and Rich's default of 80 columns would cut
    identifiers (slice names, report paths, versions) with an ellipsis, so the table is
    printed at its natural width instead."""
    if not console.is_terminal:
        from rich.measure import Measurement

        natural = Measurement.get(console, console.options.update_width(_UNBOUNDED), table)
        if natural.maximum > console.width:
            width = console.width
            console.width = natural.maximum
            try:
                console.print(table)
            finally:
                console.width = width
            return
    console.print(table)


_UNBOUNDED = 100_000


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def print_train(
    console: Console, project: Project, o: TrainOutcome, shown: Sequence[str] = ()
) -> None:
    """The outcome of a training; `shown`: warnings the progress printed already."""
    if o.skipped:
        console.print(
            f"[yellow]Skipped[/]: nothing registered for [bold]{project.name}[/]; "
            f"version {o.version} stays champion.",
            soft_wrap=True,
        )
        for reason in o.gate_reasons:
            console.print(f"  • {reason}", soft_wrap=True)
        return
    _registered(console, project, o)
    _metrics_and_gate(console, project, o, shown)


def _registered(console: Console, project: Project, o: TrainOutcome) -> None:
    """The registration line: the rows trained and held out (a recommender's: the
    interactions before and after the cut-off, and the users its lists were judged for)."""
    if "users" in o.rows:
        console.print(
            f"[bold]{project.name}[/] version [bold]{o.version}[/] registered "
            f"({o.rows.get('train')} interactions before the cut-off, "
            f"{o.rows.get('holdout')} after it; lists judged for {o.rows['users']} users)."
        )
        return
    console.print(
        f"[bold]{project.name}[/] version [bold]{o.version}[/] registered "
        f"({o.rows.get('train')} training rows, {o.rows.get('holdout')} holdout rows"
        + (
            f"; {o.rows['feedback']} of them labelled production rows"
            if "feedback" in o.rows
            else ""
        )
        + ")."
    )


def _metrics_and_gate(
    console: Console, project: Project, o: TrainOutcome, shown: Sequence[str]
) -> None:
    verdict = "[green]passed[/]" if o.gate_passed else "[red]failed[/]"
    table = Table("metric", "holdout value", box=None)
    for k, v in sorted(o.metrics.items()):
        table.add_row(k, _fmt(v))
    print_table(console, table)
    if o.window:
        asked = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in o.requested.items())
        console.print(
            f"Training window {o.window}" + (f" ({asked})" if asked else "") + ".",
            soft_wrap=True,
        )
    for warning in (w for w in o.warnings if w not in shown):
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    console.print(f"Gate {verdict}:")
    for reason in o.gate_reasons:
        console.print(f"  • {reason}", soft_wrap=True)
    console.print(f"  (full report: opsloop gate {project.name} {o.version})")
    if o.promoted:
        console.print(f"[green]Promoted[/] version {o.version} to champion.")
    elif o.approval == "pending":
        console.print(
            f"Waiting for approval: [bold]opsloop approve {project.name} {o.version}"
            f"[/] or [bold]opsloop reject {project.name} {o.version}[/]."
        )


def multivariate_line(value: MultivariateSummary | Mapping[str, Any]) -> str:
    """The `multivariate` summary key in one line (absent in results of older versions)."""
    from opsloop.core.summaries import MultivariateSummary

    mv = MultivariateSummary.parse(value)
    if mv.value is None or mv.upper is None:
        return f"not judged ({mv.n or 0} rows)"
    state = "[red]outside the band[/]" if mv.drifted else "inside the band"
    line = f"error {_fmt(mv.value)} in [{_fmt(mv.lower)}, {_fmt(mv.upper)}] → {state}"
    ref = mv.reference
    if ref is not None and (ref.requested or "training") != "training":
        line += f" (band around {ref.label})"
    return line


def drift_text(detected: bool | None, judged: bool) -> str:
    """A window's drift verdict, coloured: DRIFT, no drift or not judged (too few rows)."""
    from opsloop.core.summaries import drift_verdict

    verdict = drift_verdict(detected, judged)
    return {"drift": "[red]DRIFT[/]", "no drift": "[green]no drift[/]"}.get(
        verdict, f"[yellow]{verdict}[/]"
    )


def feature_verdict_text(f: FeatureDriftSummary) -> str:
    """A feature's verdict, coloured: drift, immaterial, no drift, not judged (too few
    rows)."""
    from opsloop.core.summaries import NOT_JUDGED

    verdict = f.outcome
    return {
        "drift": "[red]drift[/]",
        "immaterial": "[yellow]immaterial[/]",
        "not judged": f"[dim]{NOT_JUDGED}[/]",
    }.get(verdict, verdict)


def effect_text(f: FeatureDriftSummary) -> str:
    """The effect size against its materiality floor, e.g. `wasserstein 0.0123 < 0.1`
    (— when not measured: too few rows, or a result from before materiality)."""
    if f.effect_size is None or f.floor is None:
        return "—"
    sign = "≥" if f.effect_size >= f.floor else "<"
    return f"{f.effect} {_fmt(float(f.effect_size))} {sign} {f.floor:g}"


def print_monitor(console: Console, r: MonitorResult) -> None:
    from opsloop.core.summaries import VERDICTS

    s = r.summary_model
    console.print(
        f"Window {r.window_start:%Y-%m-%d %H:%M} → {r.window_end:%H:%M} UTC, "
        f"version {r.version}: {r.n_rows} predictions, {r.n_labelled} labelled."
    )
    drift = drift_text(r.drift_detected, s.drift_judged)
    immaterial = [f.name for f in s.features if f.outcome == "immaterial"]
    if s.drift_judged:
        console.print(
            f"{drift}: {r.drift_share:.0%} of features drifted {s.drifted_features}"
            + (f"; detectable but immaterial: {immaterial}" if immaterial else ""),
            soft_wrap=True,
        )
    else:
        console.print(f"Drift {drift}: no feature had enough rows in the window.")
    if s.features:
        # the reference column when any feature was judged against more than training
        refs = any(
            f.reference is not None and (f.reference.requested or "training") != "training"
            for f in s.features
        )
        columns = ["feature", "test", "statistic", "p-value", "effect size vs floor", "verdict"]
        table = Table(*columns, *(["reference"] if refs else []), box=None)
        for f in sorted(s.features, key=lambda f: (VERDICTS.index(f.outcome), f.name or "")):
            ref = f.reference
            where = "" if ref is None else ref.label
            table.add_row(
                f.name,
                f.test,
                _fmt(f.statistic),
                _fmt(f.p_value),
                effect_text(f),
                feature_verdict_text(f),
                *([f"[yellow]{where}[/]" if ref and ref.fallback else where] if refs else []),
            )
        print_table(console, table)
    p = None if s.drift is None else s.drift.prediction
    if p is not None and p.to_json():
        console.print(
            f"Prediction (score) drift: {feature_verdict_text(p)} ({p.test} {_fmt(p.statistic)}"
            f", p-value {_fmt(p.p_value)}; effect {effect_text(p)})."
        )
    mv = s.multivariate
    if mv is not None and mv.to_json():
        console.print(
            f"Multivariate (PCA reconstruction, {mv.components} components): "
            + multivariate_line(mv)
        )
    if r.performance_value is not None:
        state = "[red]below floor[/]" if r.performance_degraded else "[green]ok[/]"
        console.print(
            f"Performance: {r.performance_metric} = {r.performance_value:.4f} on "
            f"{r.n_labelled} labelled rows ({state})."
        )
    else:
        console.print(f"Performance: not enough labels yet ({r.n_labelled} labelled rows).")
    est = s.estimated_performance
    if est is not None and est.to_json():
        console.print(f"Estimated performance (CBPE, no labels): {estimated_line(est)}.")
    cal = s.calibration
    if cal is not None and cal.to_json():
        console.print(
            f"Calibration: ECE {cal.ece:.4f}, Brier {cal.brier:.4f} on "
            f"{r.n_labelled if 'n' not in cal.model_fields_set else cal.n} labelled rows."
        )
    prev = s.previous
    if prev is not None and prev.to_json():
        share = prev.drift_share
        console.print(
            f"Since the previous window (ending {_short(prev.window_end)}): drift share "
            f"{_fmt(None if share is None else share.previous)} → "
            f"{_fmt(None if share is None else share.value)}; newly drifted "
            f"{prev.newly_drifted or 'none'}, recovered {prev.recovered or 'none'}."
        )
    quality = s.quality
    if quality is not None and quality.to_json():
        breaches = quality.breaches
        console.print(
            "Data quality: "
            + ("[green]passed[/]" if not breaches else f"[red]{len(breaches)} breach(es)[/]")
        )
        for c in breaches:
            where = f" {c.feature}" if c.feature else ""
            console.print(
                f"  {c.check}{where}: {c.detail} (expected {c.expected})",
                markup=False,
            )
    ranking = r.summary.get("ranking")
    if isinstance(ranking, Mapping):
        for line in ranking_lines(ranking):
            console.print(line, markup=False, soft_wrap=True)
    console.print(f"Report: {r.report_path}", soft_wrap=True)


def ranking_lines(ranking: Mapping[str, Any]) -> list[str]:
    """A recommender's checks (summary key `ranking`, opsloop.monitor.ranking), in words."""
    breaches = ranking.get("breaches") or []
    out = [
        f"Recommendations (k = {ranking.get('k')}): "
        + (f"breached: {', '.join(breaches)}" if breaches else "no check breached")
    ]
    for key, what in (("popularity", "visits"), ("recommended", "recommendations")):
        p = ranking.get(key) or {}
        if p.get("judged"):
            out.append(
                f"  popularity shift of {what}: Jensen-Shannon {_fmt(p.get('distance'))}, "
                f"corrected for noise {_fmt(p.get('corrected'))} (floor {p.get('floor')}, "
                f"p-value {_fmt(p.get('p_value'))}, {p.get('n')} events)"
            )
    c = ranking.get("coverage") or {}
    if c.get("judged"):
        out.append(
            f"  coverage {_fmt(c.get('value'))} (reference {_fmt(c.get('reference'))}, "
            f"floor {_fmt(c.get('threshold'))})"
        )
    f = ranking.get("fallback") or {}
    if f.get("judged"):
        out.append(
            f"  fallback share {_fmt(f.get('share'))}: {f.get('fallback_users')} of "
            f"{f.get('users')} visiting users without their own list (limit {f.get('threshold')})"
        )
    q = ranking.get("realised") or {}
    metrics = q.get("metrics") or {}
    if "ndcg_at_k" in metrics:
        out.append(
            f"  realised NDCG@k {_fmt(metrics['ndcg_at_k'])} on {q.get('n_lists')} lists "
            f"(offline {_fmt(ranking.get('offline_ndcg'))})"
        )
    return out


def print_comparison(console: Console, r: DatasetComparison) -> None:
    """`opsloop drift`: the verdict, one row per feature (drifted first), quality breaches
    and what was not compared."""
    d = r.drift
    console.print(
        f"Reference {r.reference} ({r.reference_rows} rows) vs current {r.current} "
        f"({r.current_rows} rows).",
        markup=False,
        soft_wrap=True,
    )
    if d.tested:
        verdict = "[red]DATASET DRIFT[/]" if d.detected else "[green]no dataset drift[/]"
        console.print(
            f"{verdict}: {d.share:.0%} of {d.tested} features drifted "
            f"(dataset drift at {r.drift_config.share:.0%}) {d.drifted_features}"
        )
    else:
        console.print("Drift [yellow]not judged[/]: no feature had enough rows.")
    table = Table("feature", "kind", "test", "statistic", "p-value", "PSI", "drifted", box=None)
    for f in sorted(d.features, key=lambda f: (not f.drifted, f.name)):
        judged = f.status != "insufficient_data"
        table.add_row(
            f.name,
            f.kind,
            f.test,
            _fmt(f.statistic),
            _fmt(f.p_value),
            _fmt(f.psi),
            "[red]yes[/]" if f.drifted else "no" if judged else "not judged",
        )
    print_table(console, table)
    breaches = r.quality.breaches
    console.print(
        "Data quality: "
        + ("[green]passed[/]" if not breaches else f"[red]{len(breaches)} breach(es)[/]")
    )
    for c in breaches:
        where = f" {c.feature}" if c.feature else ""
        console.print(f"  {c.check}{where}: {c.detail} (expected {c.expected})", markup=False)
    if r.skipped:
        console.print(
            "Not compared: " + ", ".join(f"{s.name} ({s.reason})" for s in r.skipped),
            markup=False,
            soft_wrap=True,
        )


def _short(iso: Any) -> str:
    return "—" if not iso else str(iso)[:16].replace("T", " ")


def _band(value: EstimatedBandView | MultivariateBandView | None) -> str:
    if value is None or value.value is None:
        return "—"
    text = f"{value.value:.4g}"
    from opsloop.services.view_models import EstimatedBandView

    flag = value.degraded if isinstance(value, EstimatedBandView) else value.drifted
    return f"[red]{text}[/]" if flag else text


def print_monitor_history(console: Console, view: MonitoringView | Mapping[str, Any]) -> None:
    from opsloop.services.view_models import MonitoringView

    data = view if isinstance(view, MonitoringView) else MonitoringView.model_validate(view)
    windows = data.windows
    if not windows:
        console.print(
            f"No monitored windows for {data.model} yet "
            "(`opsloop monitor`, or backfill with `opsloop monitor --from 7d`)."
        )
        return
    table = Table(
        "window end",
        "v",
        "rows",
        "labels",
        "drift",
        "since previous",
        "perf.",
        "est.",
        "multiv.",
        "quality",
        box=None,
    )
    table.columns[0].no_wrap = True  # a window end must read as one time
    for w in windows:
        prev = w.previous
        change = " ".join(
            [
                *(f"[red]+{n}[/]" for n in ([] if prev is None else prev.newly_drifted)),
                *(f"[green]−{n}[/]" for n in ([] if prev is None else prev.recovered)),
            ]
        )
        perf = "—" if w.performance_value is None else f"{w.performance_value:.3f}"
        share = f"{w.drift_share:.0%}" if w.drift_judged else "not judged"
        quality = {None: "—", True: "ok", False: "[red]breach[/]"}[w.quality_passed]
        table.add_row(
            _short(w.window_end)[5:],
            str(w.version),
            str(w.n_rows),
            str(w.n_labelled),
            f"[red]{share}[/]" if w.drift_detected else share,
            change or "—",
            f"[red]{perf}[/]" if w.performance_degraded else perf,
            _band(w.estimated_performance),
            _band(w.multivariate),
            quality,
        )
    print_table(console, table)
    console.print("since previous: [red]+newly drifted[/] [green]−recovered[/] features")
    console.print(f"Latest report: {windows[-1].report_path}", soft_wrap=True)


def print_backfill(console: Console, r: BackfillResult) -> None:
    console.print(
        f"Version {r.version}: {len(r.windows)} windows, {len(r.monitored)} "
        f"monitored ({len(r.replaced)} replaced), {len(r.skipped)} skipped."
    )
    reasons: dict[str, int] = {}
    for s in r.skipped:
        key = s["reason"].split(" (result")[0]
        reasons[key] = reasons.get(key, 0) + 1
    for reason, n in reasons.items():
        console.print(f"  [dim]skipped {n}: {reason}[/]")
    drifted = [m for m in r.monitored if m.drift_detected]
    if drifted:
        console.print(
            f"[red]Drift[/] in {len(drifted)} windows, first ending "
            f"{drifted[0].window_end:%Y-%m-%d %H:%M} UTC."
        )
    if r.remainder:
        console.print(f"[dim]Not monitored (shorter than a window): {r.remainder}[/]")
    if r.report_path:
        console.print(
            f"Report of the last window, with the history: {r.report_path}", soft_wrap=True
        )


def estimated_line(value: EstimatedPerformance | Mapping[str, Any]) -> str:
    """`roc_auc ≈ 0.8123 (band 0.79–0.93) on 1200 rows, ok` for an estimated_performance."""
    from opsloop.core.summaries import EstimatedPerformance

    est = EstimatedPerformance.parse(value)
    if est.value is None:
        return f"not estimated ({'; '.join(est.reasons) or 'no value'})"
    band = "" if est.lower is None else f" (band {est.lower:.4f}–{_fmt4(est.upper)})"
    state = "[red]degraded[/]" if est.degraded else "[green]ok[/]"
    return f"{est.metric} ≈ {est.value:.4f}{band} on {est.n} rows, {state}"


def _fmt4(value: float | None) -> str:
    return "None" if value is None else f"{value:.4f}"


def print_tick(console: Console, t: TickResult) -> None:
    if t.monitored is not None:
        print_monitor(console, t.monitored)
    for f in t.fired:
        console.print(f"[yellow]Trigger fired[/]: {f.trigger} ({f.key})")
    for note in t.notes:
        console.print(f"[dim]{note}[/]")
    if t.trained is not None and t.trained.skipped:
        console.print(f"Retrain skipped: {'; '.join(t.trained.gate_reasons)}.", soft_wrap=True)
    elif t.trained is not None:
        o = t.trained
        console.print(
            f"Retrained: version {o.version}, gate "
            f"{'passed' if o.gate_passed else 'failed'} ({'; '.join(o.gate_reasons)})"
            f"{', promoted' if o.promoted else ''}."
        )


def print_status(console: Console, view: StatusView | Mapping[str, Any]) -> None:
    from opsloop.core.summaries import NOT_JUDGED
    from opsloop.services.view_models import StatusView

    s = view if isinstance(view, StatusView) else StatusView.model_validate(view)
    console.print(f"[bold]{s.model}[/] ({s.task}, stack {s.stack})")
    table = Table("", "", box=None, show_header=False)
    dep = s.deployment
    table.add_row(
        "champion",
        "—"
        if dep is None
        else f"version {dep.version} (revision {dep.revision}, since {(dep.ts or '')[:19]}, "
        f"{dep.reason})",
    )
    if s.champion is not None and s.champion.training is not None:
        table.add_row("  trained on", training_line(s.champion.training))
    if s.champion is not None:
        table.add_row("  inference", inference_line(s.champion))
    for server in s.servers:
        mark = (
            ""
            if dep is None or server.route != "stable" or server.version == dep.version
            else " [red](not the champion)[/]"
        )
        table.add_row(
            "  served by",
            f"{escape(server.replica)}: version {server.version} ({server.route}"
            + (f", {server.path} path" if server.path else "")
            + f", seen {(server.last_seen or '')[11:19]}){mark}",
        )
    for failure in s.load_failures:
        table.add_row(
            "  [red]load failed[/]",
            f"{escape(failure.replica or '?')}: version {' + '.join(failure.versions)} — "
            f"{escape(failure.error or '')}; "
            f"still serving {failure.serving or 'nothing'}",
        )
    ch = s.challenger
    if ch is None:
        table.add_row("challenger", "—")
    else:
        gate = ch.gate
        gate_text = (
            "no gate yet"
            if gate is None
            else (("passed" if gate.passed else "failed") + ": " + "; ".join(gate.reasons))
        )
        table.add_row("challenger", f"version {ch.version} — gate {gate_text}")
        if ch.training is not None:
            table.add_row("  trained on", training_line(ch.training))
        table.add_row("  inference", inference_line(ch))
    ro = s.rollout
    if ro is not None and (
        ro.status == "running"
        or s.deployment is None
        or (ro.finished or "") >= (s.deployment.ts or "")
    ):
        table.add_row("rollout", rollout_line(ro.to_json()))
    m = s.last_monitor
    if m is None:
        table.add_row("last monitor", "never run")
    else:
        perf = (
            ""
            if m.performance_value is None
            else f", {m.performance_metric}={m.performance_value:.4f} on "
            f"{m.n_labelled} labels" + (" [red](below floor)[/]" if m.performance_degraded else "")
        )
        quality = {True: ", quality ok", None: ""}.get(
            m.quality_passed,
            f", [red]quality: {len(m.quality_breaches)} breach(es)[/]",
        )
        mv = m.multivariate
        multi = f", multivariate {multivariate_line(mv)}" if mv else ""
        if m.drift_judged:
            verdict = drift_text(m.drift_detected, True).replace("DRIFT", "drift")
            verdict += f" ({m.drift_share:.0%} of features{multi})"
        else:
            verdict = f"[yellow]drift {NOT_JUDGED}[/]" + (f" ({multi[2:]})" if multi else "")
        table.add_row(
            "last monitor", f"{(m.ts or '')[:19]}: {verdict}{perf}, {m.n_rows} rows{quality}"
        )
        if m.estimated_performance:
            table.add_row("estimated", estimated_line(m.estimated_performance))
    pending = s.pending_approvals
    table.add_row("pending approvals", ", ".join(f"version {p.version}" for p in pending) or "none")
    sched = s.schedule
    table.add_row(
        "schedule",
        f"monitor {sched.monitor} (next {(sched.monitor_next or '')[:16]}), "
        f"retrain on {', '.join(sched.retrain_on)}",
    )
    last = sched.last_trigger
    table.add_row(
        "last trigger", "none" if last is None else f"{last.trigger} at {(last.ts or '')[:19]}"
    )
    for tr in sched.triggers:
        fired = (
            "never fired"
            if tr["last_ts"] is None
            else f"last {tr['last_ts'][:19]} ({tr['last_key']})"
        )
        table.add_row(f"  {tr['trigger']}", f"{fired}; next: {tr['detail']}")
    lease = s.agent.lease
    table.add_row(
        "agent",
        "none has run"
        if lease is None
        else f"{lease.holder} (lease token {lease.token}, "
        + (
            f"live until {(lease.expires or '')[11:19]})"
            if lease.live
            else f"expired at {(lease.expires or '')[:19]})"
        ),
    )
    for r in s.running:
        stage = next((x for x in reversed(r.stages) if x.endswith(":running")), "")
        where = f" in {stage.split(':')[0]}" if stage else ""
        table.add_row(
            "running",
            f"#{r.id} {r.pipeline} (trigger {r.trigger}){where}, "
            f"heartbeat {(r.heartbeat or '')[11:19]}",
        )
    runs = s.runs
    if runs:
        r = runs[0]
        table.add_row("last pipeline", f"#{r.id} {r.pipeline} {r.status} (trigger {r.trigger})")
    b = s.batch
    if b.last_run is not None:
        lr = b.last_run
        what = (
            f"{lr.rows:,} rows by version {lr.version} ({lr.rows_per_second:,.0f} rows/s)"
            if lr.status == "succeeded"
            else f"failed: {(lr.error or '')[:80]}"
        )
        table.add_row("last batch", f"{lr.run_id} {what}, {(lr.finished or '')[:19]}")
    if b.current_run_id is not None:
        table.add_row(
            "batch output",
            f"{b.current_run_id} (revision {b.current_revision}, published "
            f"{(b.published or '')[:19]})",
        )
    if b.schedule:
        table.add_row("batch schedule", b.schedule)
    table.add_row("versions", ", ".join(s.versions) or "none")
    plog = s.prediction_log
    if plog is not None and (plog.quarantined_batches or plog.journal_segments):
        parts = []
        if plog.quarantined_batches:
            parts.append(
                f"[red]{plog.quarantined_rows} row(s) in {plog.quarantined_batches} quarantined "
                f"batch(es)[/] it could not store: {plog.quarantine}"
            )
        if plog.journal_segments:
            parts.append(f"{plog.journal_segments} journal segment(s) not yet written")
        table.add_row("prediction log", "; ".join(parts))
    print_table(console, table)


def training_line(t: TrainingView) -> str:
    """A version's training data in one line: rows, window, how it was chosen, event span."""
    text = f"{t.rows if t.rows is not None else '?'} rows, window {t.window or '?'}"
    asked = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in t.requested.items())
    how = {"asked": "asked", "now": "ending now", "data": "ending at the newest event"}
    if t.anchor:
        text += f" ({how.get(t.anchor, t.anchor)}{': ' + asked if asked else ''})"
    if t.event_start and t.event_end:
        text += f", events {t.event_start[:19]} to {t.event_end[:19]}"
    return text


def inference_line(v: VersionView) -> str:
    """How a version may be served, as verified at registration (a server never compiles a
    version registered plain, and re-checks a compiled one at load: "served by" shows what
    each replica chose)."""
    inf = v.inference
    if inf is None:
        return "not checked at registration (the server checks at load)"
    if inf.path == "compiled":
        return f"compiled — {inf.reason}"
    return f"plain — {inf.reason}"


def rollout_line(ro: dict[str, Any]) -> str:
    """One line for a rollout: what, where it stands, and the latest verdict."""
    head = f"{ro['strategy']} of version {ro['candidate_version']} against {ro['stable_version']}: "
    if ro["status"] != "running":
        colour = {"promoted": "green", "rolled_back": "red"}.get(ro["status"], "yellow")
        return head + f"[{colour}]{ro['status']}[/] at {(ro['finished'] or '')[:19]}"
    steps = "/".join(f"{x:g}%" for x in ro["steps"])
    reasons = "; ".join(ro.get("analysis_reasons") or []) or "not analysed yet"
    return head + (
        f"[bold]{ro['share']:g}%[/] (step {ro['step'] + 1} of {len(ro['steps'])}: "
        f"{steps}), {ro.get('verdict') or 'waiting'} — {reasons}"
    )


def print_rollout(console: Console, ro: dict[str, Any] | None) -> None:
    if ro is None:
        console.print("No rollout yet.")
        return
    from opsloop.core.evidence import RolloutAnalysis

    analysis = RolloutAnalysis.parse(ro["analysis"])
    console.print(
        f"Rollout {ro['id']}: "
        + rollout_line(
            {
                **ro,
                "verdict": analysis.verdict,
                "analysis_reasons": analysis.reasons,
            }
        )
    )
    if analysis.checks:
        table = Table("check", "status", "value", "limit", "detail")
        colours = {"pass": "green", "fail": "red", "pending": "yellow"}
        for c in analysis.checks:
            value = "—" if c.value is None else f"{c.value:.4g}"
            limit = "—" if c.limit is None else f"{c.limit:g}"
            table.add_row(
                c.name, f"[{colours[str(c.status)]}]{c.status}[/]", value, limit, c.detail
            )
        print_table(console, table)


def print_events(console: Console, events: list[Event]) -> None:
    table = Table("id", "time (UTC)", "kind", "version", "actor", "summary")
    for column in table.columns[:5]:
        column.no_wrap = True
    colours = {
        "gate_failed": "red",
        "drift_detected": "red",
        "performance_degraded": "red",
        "quality_failed": "red",
        "rolled_back": "yellow",
        "trigger_fired": "yellow",
        "promoted": "green",
        "rollout_started": "cyan",
        "rollout_advanced": "cyan",
        "rollout_aborted": "yellow",
        "gate_passed": "green",
        "training_failed": "red",
        "data_invalid": "red",
    }
    for e in events:
        colour = colours.get(e.kind)
        kind = f"[{colour}]{e.kind}[/]" if colour else e.kind
        table.add_row(
            str(e.id), f"{e.ts:%Y-%m-%d %H:%M:%S}", kind, e.version or "", e.actor, e.summary
        )
    print_table(console, table)
