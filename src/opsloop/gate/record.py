"""Run the gate for a version and record it: the decision in the ops store (with the full
report as evidence, so `opsloop status`, the API and the dashboard need no MLflow), the
report as MLflow artifacts of the challenger (JSON, Markdown, HTML), and a tag on the
version. Used by the training pipeline and by `opsloop gate NAME VERSION --rerun`.

A `task: ranking` version is judged by the ranking gate on its `RankingHoldout`
(`gate/ranking_holdout.py`); its report is recorded in the same way."""

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

    from opsloop.ranking.holdout import RankingHoldout
    from opsloop.registry.base import LoadedModel
    from opsloop.store.records import GateDecision

REPORT_FILES = ("gate_report.json", "gate_report.md", "gate_report.html")
HOLDOUT_TOO_SMALL = "holdout_too_small"


def gate_and_record(
    rt: Runtime,
    *,
    holdout: pd.DataFrame | RankingHoldout,
    challenger: LoadedModel,
    champion: LoadedModel | None,
    window: str | None,
    actor: str = "opsloop",
) -> tuple[GateReport, GateDecision]:
    """Gate `challenger` against `champion` on `holdout` (rows, or for `task: ranking` the
    time split and its users) and record the decision, the report and the tag."""
    import pandas as pd

    if isinstance(holdout, pd.DataFrame):
        report = run_gate(
            rt.config,
            holdout=holdout,
            challenger=challenger,
            champion=champion,
            root=rt.root,
            window=window,
        )
    else:
        from opsloop.gate.ranking_holdout import run_holdout_gate

        report = run_holdout_gate(
            rt, holdout=holdout, challenger=challenger, champion=champion, window=window
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

    version = str(version)
    mv = rt.registry.get_version(rt.model, version)
    key = mv.tags.get("opsloop.window")
    if not key:
        raise StateError(
            f"version {version} of {rt.model!r} has no opsloop.window tag",
            fix="only versions trained by opsloop can be re-gated",
        )
    holdout = _holdout(rt, Window.from_key(key))
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


def _holdout(rt: Runtime, window: Window) -> pd.DataFrame | RankingHoldout:
    """The holdout of a training window, loaded again: its last rows, or for
    `task: ranking` its time split at the end − `ranking.holdout`."""
    cfg = rt.config
    if cfg.ranking is not None:
        from opsloop.ranking.checks import as_ranking_data
        from opsloop.ranking.holdout import ranking_holdout

        data = as_ranking_data(rt.call_load(window), cfg.code)
        return ranking_holdout(data, cfg.ranking, window.end)
    from opsloop.data.split import time_split

    _, holdout = time_split(
        rt.load_data(window),
        time_column=cfg.time_column,
        holdout=cfg.split.holdout,
        target=cfg.target,
        task=cfg.task,
    )
    return holdout
