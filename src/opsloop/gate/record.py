"""Run the gate for a version and record it: the decision in the ops store (with the full
report as evidence, so `opsloop status`, the API and the dashboard need no MLflow), the
report as MLflow artifacts of the challenger (JSON, Markdown, HTML), and a tag on the
version. Used by the training pipeline and by `opsloop gate NAME VERSION --rerun`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from opsloop.data.window import Window
from opsloop.errors import NotFoundError, StateError
from opsloop.gate.evaluate import GateReport, run_gate
from opsloop.gate.report import to_html, to_markdown
from opsloop.runtime import Runtime

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.registry.base import LoadedModel
    from opsloop.store.records import GateDecision

REPORT_FILES = ("gate_report.json", "gate_report.md", "gate_report.html")
HOLDOUT_TOO_SMALL = "holdout_too_small"


def gate_and_record(
    rt: Runtime,
    *,
    holdout: pd.DataFrame,
    challenger: LoadedModel,
    champion: LoadedModel | None,
    window: str | None,
    actor: str = "opsloop",
) -> tuple[GateReport, GateDecision]:
    report = run_gate(
        rt.config,
        holdout=holdout,
        challenger=challenger,
        champion=champion,
        root=rt.root,
        window=window,
    )
    texts = (
        json.dumps(report.to_dict(), indent=2, default=str),
        to_markdown(report),
        to_html(report),
    )
    artifacts = {
        name: rt.registry.log_artifact(rt.model, challenger.version, name, text)
        for name, text in zip(REPORT_FILES, texts, strict=True)
    }
    p = report.primary
    decision = rt.store.record_gate(
        model=rt.model,
        version=challenger.version,
        champion_version=report.champion_version,
        metric=p["metric"],
        policy=p["policy"],
        margin=p["margin"],
        floor=p["floor"],
        challenger_value=p["challenger"],
        champion_value=p["champion"],
        passed=report.passed,
        reasons=report.reasons,
        evidence={"report": report.to_dict(), "artifacts": artifacts},
        actor=actor,
    )
    rt.registry.set_tag(
        rt.model, challenger.version, "opsloop.gate", "passed" if report.passed else "failed"
    )
    if report.warnings:
        rt.store.add_event(
            HOLDOUT_TOO_SMALL,
            rt.model,
            version=challenger.version,
            summary="; ".join(report.warnings),
            evidence={
                "warnings": report.warnings,
                "holdout_rows": report.holdout_rows,
                "holdout_min_rows": rt.config.gate.holdout_min_rows,
                "holdout_min_class_rows": rt.config.gate.holdout_min_class_rows,
                "window": window,
                "gate_decision": decision.id,
            },
        )
    return report, decision


def rerun_gate(rt: Runtime, version: str, *, actor: str = "opsloop") -> GateReport:
    """Gate `version` again on the holdout of its own training window, against the current
    champion (or, for the champion itself, against the champion it was gated against)."""
    from opsloop.artifacts import load_verified
    from opsloop.core.aliases import CHAMPION
    from opsloop.data.split import time_split

    version = str(version)
    mv = rt.registry.get_version(rt.model, version)
    key = mv.tags.get("opsloop.window")
    if not key:
        raise StateError(
            f"version {version} of {rt.model!r} has no opsloop.window tag",
            fix="only versions trained by opsloop can be re-gated",
        )
    frame = rt.load_data(Window.from_key(key))
    cfg = rt.config
    _, holdout = time_split(
        frame,
        time_column=cfg.time_column,
        holdout=cfg.split.holdout,
        target=cfg.target,
        task=cfg.task,
    )
    champion_mv = rt.registry.find_alias(rt.model, CHAMPION)
    champion_version = None if champion_mv is None else champion_mv.version
    if champion_version == version:
        previous = rt.store.find_gate(rt.model, version)
        champion_version = None if previous is None else previous.champion_version
    champion = None
    if champion_version is not None:
        try:
            champion = load_verified(rt.registry, rt.store, rt.model, champion_version)
        except NotFoundError:
            champion = None
    report, _ = gate_and_record(
        rt,
        holdout=holdout,
        challenger=load_verified(rt.registry, rt.store, rt.model, version),
        champion=champion,
        window=key,
        actor=actor,
    )
    return report
