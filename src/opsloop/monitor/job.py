"""The monitoring job: a window of the prediction log (joined with late labels) against the
deployed version's reference profile; results to the ops store, an HTML + JSON report to
`.opsloop/reports/`, events on breaches (written by the store in the same transaction).

Each result is also compared with the previous window's result of the same version
(`monitor/previous.py`, summary key ``previous``), and the HTML report charts the stored
history of that version (`HISTORY_WINDOWS` latest windows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from opsloop.core.digest import digest, with_previous
from opsloop.data.features import FeatureSpec, features_from_json
from opsloop.data.label_contract import LabelContract, contract_from_events
from opsloop.data.window import Window
from opsloop.errors import NotFoundError, ProfileFormatError, StateError
from opsloop.monitor.events import monitor_events
from opsloop.runtime import Runtime
from opsloop.store.records import MonitorResult, NewMonitorResult

if TYPE_CHECKING:
    from opsloop.core.profile import Profile
    from opsloop.core.transform import Transform
    from opsloop.engines.base import WindowScan
    from opsloop.monitor.cbpe import CBPEReference
    from opsloop.monitor.quality import ColumnContract, Expectations
    from opsloop.monitor.reference import DriftReferences
    from opsloop.monitor.run import MonitorReport
    from opsloop.monitor.thresholds import LearnedThresholds

HISTORY_WINDOWS = 48  # windows charted in a report


class _Share(Protocol):
    @property
    def share(self) -> float: ...


class WindowReport(Protocol):
    """What `record_window` stores of a window's report: the tabular `MonitorReport`, or a
    recommender's (`opsloop.monitor.ranking.window.RankingReport`)."""

    @property
    def window_start(self) -> datetime: ...
    @property
    def window_end(self) -> datetime: ...
    @property
    def n_rows(self) -> int: ...
    @property
    def n_labelled(self) -> int: ...
    @property
    def drift_detected(self) -> bool: ...
    @property
    def drift(self) -> _Share: ...
    @property
    def performance_value(self) -> float | None: ...
    @property
    def performance_degraded(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...


def deployed_version(rt: Runtime) -> str:
    deployment = rt.store.find_deployment(rt.model)
    if deployment is None:
        raise StateError(
            f"{rt.model!r} has no deployed version to monitor",
            fix="train and promote a model first (`opsloop train`)",
        )
    return deployment.version


_TRAINED_EVENTS = 200  # how far back a version's `trained` event is looked for


@dataclass
class VersionInputs:
    """What monitoring one version needs, read from the registry once (a backfill evaluates
    many windows with it): its features and reference profile, and the optional artifacts
    — the pandera contract and quality expectations, the CBPE reference, the learned drift
    thresholds and the multivariate transform (None where disabled or absent; `notes` says
    which ones a version trained by an older opsloop lacks)."""

    version: str
    features: list[FeatureSpec]
    reference: Profile
    contract: dict[str, ColumnContract] | None = None
    expectations: Expectations | None = None
    cbpe: CBPEReference | None = None
    learned: LearnedThresholds | None = None
    transform: Transform | None = None
    training_window: Window | None = None  # what the reference profile was fitted on
    label_contract: LabelContract | None = None  # what its labels must be (`trained` event)
    notes: list[str] = field(default_factory=list)


def load_version(rt: Runtime, version: str) -> VersionInputs:
    """The features, reference profile and monitoring artifacts stored with `version`."""
    from opsloop.core.profile import Profile
    from opsloop.monitor.multivariate import load_transform
    from opsloop.monitor.thresholds import load_learned

    features = features_from_json(rt.registry.read_artifact(rt.model, version, "features.json"))
    try:
        reference = Profile.from_json(
            rt.registry.read_artifact(rt.model, version, "reference_profile.json")
        )
    except ProfileFormatError as exc:
        raise ProfileFormatError(
            f"the reference profile of {rt.model} version {version} is in an older format",
            expected=exc.expected,
            got=exc.got,
            fix=f"retrain (`opsloop train`) so the deployed version has a new profile; "
            f"version {version} cannot be monitored by this opsloop",
        ) from exc

    inputs = VersionInputs(version, list(features), reference)
    inputs.training_window = _training_window(rt, version)
    inputs.contract, inputs.expectations = _quality_inputs(rt, version)
    inputs.cbpe = _cbpe_reference(rt, version)
    inputs.learned = load_learned(rt, version, inputs.notes)
    inputs.transform = load_transform(rt, version, inputs.notes)
    trained = rt.store.list_events(rt.model, kinds=["trained"], limit=_TRAINED_EVENTS)
    inputs.label_contract = contract_from_events(trained, rt.config.task, version)
    return inputs


def evaluate_window(rt: Runtime, window: Window, inputs: VersionInputs) -> MonitorReport:
    """Drift, quality and performance of the rows `inputs.version` answered in `window`."""
    from opsloop.monitor.drift import exact_features

    cfg = rt.config
    refs = choose_drift_references(rt, window, inputs)
    # one scan of the rows the version answered users (not its shadow answers during a
    # rollout) in the window on `monitor.clock` (event time by default): profile, labelled
    # rows, scores, multivariate error, raw values for exact KS
    scan = rt.engine.scan_window(
        rt.model,
        window.start,
        window.end,
        inputs.reference,
        version=inputs.version,
        clock=cfg.monitor.clock,
        scores=inputs.cbpe is not None,
        transform=inputs.transform,
        exact=lambda current: exact_features(refs.profile, current, cfg.monitor.drift),
        limit=cfg.monitor.drift.exact_max_rows,
    )
    return judge_scan(rt, window, inputs, scan, refs)


def choose_drift_references(rt: Runtime, window: Window, inputs: VersionInputs) -> DriftReferences:
    """Each feature's drift reference for `window`: training, or a rolling / cycle period
    of the log (`monitor.reference`)."""
    from opsloop.monitor.reference import choose_references

    return choose_references(
        rt.engine,
        model=rt.model,
        version=inputs.version,
        window=window,
        training=inputs.reference,
        features=[f.name for f in inputs.features],
        cfg=rt.config.monitor,
        training_window=inputs.training_window,
    )


def judge_scan(
    rt: Runtime,
    window: Window,
    inputs: VersionInputs,
    scan: WindowScan,
    refs: DriftReferences | None = None,
) -> MonitorReport:
    """The report of a window from what the engine read of it (`scan_window`, or one
    window of `scan_windows`); `refs` its drift references (chosen here when not given)."""
    from opsloop.monitor.reference import judge_multivariate
    from opsloop.monitor.run import run_monitor

    cfg = rt.config
    if refs is None:
        refs = choose_drift_references(rt, window, inputs)
    multivariate = mv_reference = None
    if inputs.transform is not None and scan.error is not None:
        n, value = scan.error
        multivariate, mv_reference = judge_multivariate(
            rt.engine,
            model=rt.model,
            window=window,
            transform=inputs.transform,
            n=n,
            value=value,
            cfg=cfg.monitor,
            training_window=inputs.training_window,
        )
    report = run_monitor(
        reference=inputs.reference,
        current=scan.profile,
        labelled=scan.labelled,
        features=inputs.features,
        task=cfg.task,
        cfg=cfg.monitor,
        window_start=window.start,
        window_end=window.end,
        cbpe=inputs.cbpe,
        scores=scan.scores,
        values=scan.values,
        contract=inputs.contract,
        expectations=inputs.expectations,
        learned=inputs.learned,
        multivariate=multivariate,
        drift_reference=refs.profile,
        references=refs.used,
        label_contract=inputs.label_contract,
    )
    report.multivariate_reference = mv_reference
    report.notes.extend([*refs.notes, *inputs.notes])
    return report


def report_file(rt: Runtime, version: str, window: Window) -> Path:
    """The HTML report's path (the JSON report: same name, `.json`)."""
    stamp = f"{window.start:%Y%m%dT%H%M%SZ}-{window.end:%Y%m%dT%H%M%SZ}"
    return rt.paths.reports / f"{rt.model}-v{version}-{stamp}.html"


def report_html(
    rt: Runtime, summary: dict[str, Any], reference: Profile, version: str, window: Window
) -> str:
    """The HTML report of a window with the stored history of its version before it."""
    from opsloop.monitor.report import render_html

    history = rt.store.list_monitor_windows(
        rt.model, version=version, limit=HISTORY_WINDOWS - 1, end_before=window.end, digests=True
    )
    return render_html(
        summary,
        reference,
        title=f"{rt.model} v{version} · {window.key}",
        history=[r.summary for r in history],
    )


def record_window(
    rt: Runtime,
    report: WindowReport,
    reference: Profile,
    version: str,
    *,
    html: bool = True,
    replaces: tuple[int, ...] = (),
    previous: MonitorResult | EllipsisType | None = ...,
) -> MonitorResult:
    """Compare with the previous window, write the report files, store the result.
    `previous`: the stored result this window is compared with, when the caller knows it
    (a backfill: the window it stored just before); by default the store is asked."""
    from opsloop.monitor.previous import compare_windows

    window = Window(report.window_start, report.window_end)
    summary = report.to_dict()
    digested = digest(summary)
    if previous is ...:
        previous = rt.store.find_previous_monitor(rt.model, version, window.end)
    if previous is not None:
        # both sides as digests: they keep all that the comparison reads (verdicts, shares,
        # performance, breaches), at a fraction of a full summary's validation
        summary["previous"] = compare_windows(
            digested,
            digest(previous.summary),
            previous_id=previous.id,
            previous_version=previous.version,
        ).to_json()
    rt.paths.reports.mkdir(parents=True, exist_ok=True)
    html_path = report_file(rt, version, window)
    json_path = html_path.with_suffix(".json")
    if html:
        html_path.write_text(report_html(rt, summary, reference, version, window), encoding="utf-8")
    # one line of strict JSON by orjson (NaN as null; ~4× the standard library's C encoder)
    json_path.write_bytes(
        orjson.dumps(summary, default=_report_default, option=orjson.OPT_NON_STR_KEYS)
    )
    result = NewMonitorResult(
        model=rt.model,
        version=version,
        window_start=window.start,
        window_end=window.end,
        n_rows=report.n_rows,
        n_labelled=report.n_labelled,
        drift_detected=report.drift_detected,
        drift_share=report.drift.share,
        performance_metric=rt.config.monitor.performance.metric,
        performance_value=report.performance_value,
        performance_degraded=report.performance_degraded,
        report_path=str(html_path if html else json_path),
        summary=summary,
        digest=with_previous(digested, summary),  # = digest(summary), digested once
        ts=rt.now(),
    )
    events = monitor_events(result, replaces=replaces)
    return rt.store.record_monitor(result, events, replaces=replaces)


def _report_default(value: Any) -> Any:
    """orjson's fallback for a report: numpy scalars by value, anything else as text."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return str(value)


def run_monitor_job(
    rt: Runtime, *, window: Window | None = None, version: str | None = None
) -> MonitorResult:
    """Monitor `window` (default: the last `monitor.window`) for `version` (default: the
    deployed one)."""
    inputs = load_version(rt, version or deployed_version(rt))
    window = window or Window.last(rt.config.monitor.window, end=rt.now())
    report = evaluate_window(rt, window, inputs)
    return record_window(rt, report, inputs.reference, inputs.version)


def _training_window(rt: Runtime, version: str) -> Window | None:
    """The window the version was trained on (its `opsloop.window` tag), None when a
    version registered without it has none."""
    key = rt.registry.get_version(rt.model, version).tags.get("opsloop.window")
    try:
        return None if key is None else Window.from_key(key)
    except ValueError:
        return None


def _cbpe_reference(rt: Runtime, version: str) -> CBPEReference | None:
    """The version's CBPE reference (`cbpe.json`, absent for regressors and versions
    trained before it); None when performance is not estimated."""
    from opsloop.monitor.cbpe import ARTIFACT, CBPEReference

    if (
        rt.config.task != "binary_classification"
        or not rt.config.monitor.estimated_performance.enabled
    ):
        return None
    try:
        return CBPEReference.from_json(rt.registry.read_artifact(rt.model, version, ARTIFACT))
    except NotFoundError:
        return None


def _quality_inputs(
    rt: Runtime, version: str
) -> tuple[dict[str, ColumnContract] | None, Expectations | None]:
    """The version's pandera contract and learned quality expectations; None for what it
    lacks (versions trained before opsloop stored them)."""
    from opsloop.monitor.quality import EXPECTATIONS_ARTIFACT, Expectations, contract_from_yaml

    cfg = rt.config.monitor.quality
    if not cfg.enabled:
        return None, None
    found: list[str | None] = []
    for name in ("schema.yaml" if cfg.schema_ else None, EXPECTATIONS_ARTIFACT):
        if name is None:
            found.append(None)
            continue
        try:
            found.append(rt.registry.read_artifact(rt.model, version, name))
        except NotFoundError:
            found.append(None)
    schema, learned = found
    return (
        None if schema is None else contract_from_yaml(schema),
        None if learned is None else Expectations.from_json(learned),
    )
