"""Training a recommender (`task: ranking`) through the loop on in-memory backends, with
the real two-stage recommender and popularity baseline as the project's code."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from opsloop.errors import ConfigError, DataValidationError, UserCodeError
from opsloop.project import Project
from rankingproject import set_recommender, write_ranking_project


def reopen(p: Project) -> Project:
    """The project on the same backends, with its code imported again."""
    return Project(p.root, registry=p.registry, store=p.store, engine=p.engine, actor="tester")


def memory(root: Path) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    return Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="tester",
    )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return memory(write_ranking_project(tmp_path / "recs"))


def kinds(p: Project) -> list[str]:
    return [e.kind for e in p.events()]


def test_first_training_registers_gates_and_makes_the_recommender_champion(
    project: Project,
) -> None:
    p = project
    o = p.train()
    assert o.version == "1" and o.gate_passed and o.promoted and o.approval == "approved"
    assert 0 < o.metrics["ndcg_at_k"] <= 1 and 0 < o.metrics["coverage"] <= 1
    assert set(o.metrics) >= {"precision_at_k", "recall_at_k", "map_at_k", "novelty"}
    assert o.rows["train"] + o.rows["holdout"] == o.rows["total"] and o.rows["users"] > 50
    assert o.anchor == "data" and o.window is not None
    assert kinds(p) == ["trained", "registered", "gate_passed", "approved", "promoted"]

    (run,) = p.store.list_runs("recs")
    assert run.status == "succeeded"
    stages = {s["name"]: s for s in run.stages}
    assert list(stages) == [
        "load",
        "validate",
        "split",
        "fit",
        "evaluate",
        "register",
        "gate",
        "approve",
    ]
    assert all(q["passed"] for q in stages["validate"]["detail"]["quality"])
    assert stages["split"]["detail"]["holdout_users"] == o.rows["users"]
    assert "not served" in stages["approve"]["detail"]["serving"]

    dep = p.store.find_deployment("recs")
    assert dep is not None and dep.version == "1" and "not served" in (dep.reason or "")
    mv = p.registry.get_version("recs", "1")
    assert mv.tags["opsloop.task"] == "ranking" and mv.tags["opsloop.trigger"] == "manual"
    assert len(mv.tags["opsloop.data_fingerprint"]) == 64
    assert len(mv.tags["opsloop.catalogue_fingerprint"]) == 64
    assert mv.tags["opsloop.window"] == o.window
    assert mv.tags["opsloop.catalogue_items"] == "80"
    evaluation = json.loads(p.registry.read_artifact("recs", "1", "ranking.json"))
    assert evaluation["k"] == 10 and evaluation["users"] == o.rows["users"]
    assert evaluation["training"]["positives"] > 0  # the two-stage model's fit summary

    loaded = p.registry.load("recs", "1")  # the registered recommender, unpickled
    assert loaded.task == "ranking" and hasattr(loaded.estimator, "recommend")
    report = p.gate_report("1")
    assert report.passed and report.champion_version is None
    assert report.regression_set is not None and report.regression_set["rows"] == 20


def test_unchanged_data_is_skipped_and_a_forced_retrain_is_gated_against_the_champion(
    project: Project,
) -> None:
    p = project
    p.train()
    skipped = p.train()
    assert skipped.skipped and skipped.version == "1"
    assert "retrain_skipped" in kinds(p)

    o = p.train(force=True)
    assert o.version == "2" and o.champion_version == "1"
    gate = p.store.find_gate("recs", "2")
    assert gate is not None and gate.champion_version == "1"
    assert gate.champion_value == pytest.approx(gate.challenger_value)  # same data and code
    assert gate.passed and o.promoted  # non-inferior to itself
    report = gate.evidence_model.report
    assert report is not None
    names = {row.slice or "" for row in report.slices}
    assert "history=returning" in names  # (few users are new in this world)
    assert not any(n.startswith("user=") for n in names)  # `history` configured: not twice
    assert any(n.startswith("area=") for n in names)
    assert report.regression_set is not None and report.regression_set.passed


def test_a_new_restaurant_is_new_data(project: Project) -> None:
    p = project
    p.train()
    items = pd.read_parquet(p.root / "data" / "items.parquet")
    extra = items.tail(1).assign(item_id=99_999)
    pd.concat([items, extra]).to_parquet(p.root / "data" / "items.parquet", index=False)
    o = p.train()
    assert not o.skipped and o.version == "2"


def test_a_better_challenger_passes_superiority(tmp_path: Path) -> None:
    rules = "    - {metric: ndcg_at_k, policy: superiority, margin: 0.0}\n"
    root = write_ranking_project(tmp_path / "recs", recommender="popularity", rules=rules)
    p = memory(root)
    assert p.train().promoted  # the first version: no champion, floors only
    set_recommender(root, "two_stage")
    p = reopen(p)
    o = p.train()
    assert o.version == "2" and o.gate_passed and o.promoted, o.gate_reasons
    gate = p.store.find_gate("recs", "2")
    assert gate is not None and gate.challenger_value > gate.champion_value  # type: ignore[operator]
    forced = p.train(force=True)  # the same recommender again: equal is not superior
    assert not forced.gate_passed and not forced.promoted
    assert p.store.find_deployment("recs").version == "2"  # type: ignore[union-attr]


def test_load_must_return_ranking_data(project: Project) -> None:
    p = project
    code = (p.root / "model.py").read_text(encoding="utf-8")
    (p.root / "model.py").write_text(
        code + "\n\ndef load(window):  # noqa\n    return pd.DataFrame()\n", encoding="utf-8"
    )
    with pytest.raises(UserCodeError, match="returned the wrong type for a task: ranking"):
        reopen(p).train()


def test_repeated_user_ids_stop_the_training_before_fitting(project: Project) -> None:
    p = project
    users = pd.read_parquet(p.root / "data" / "users.parquet")
    pd.concat([users, users.head(3)]).to_parquet(p.root / "data" / "users.parquet", index=False)
    with pytest.raises(DataValidationError, match="unique_users: 3 repeated user_id"):
        p.train()
    assert "data_invalid" in kinds(p)
    (run,) = p.store.list_runs("recs")
    assert run.status == "failed" and [s["name"] for s in run.stages][-1] == "validate"


def test_the_gate_rerun_judges_the_version_again(project: Project) -> None:
    p = project
    p.train()
    p.train(force=True)
    report = p.rerun_gate("2")  # the champion: against the champion it was gated against
    assert report.champion_version == "1" and report.passed
    first = p.gate_report("2")
    assert first.metrics[0]["challenger"] == pytest.approx(report.metrics[0]["challenger"])


def test_a_manual_approval_makes_it_champion_without_a_rollout(project: Project) -> None:
    """`deploy.strategy: canary` does not apply to a model that is not served: approved,
    it becomes champion at once; a rollout asked for is refused."""
    from opsloop.deploy import deploy
    from opsloop.errors import StateError

    p = project
    config = p.root / "opsloop.yaml"
    text = config.read_text(encoding="utf-8").replace("approval: auto", "approval: manual")
    config.write_text(text + "deploy:\n  strategy: canary\n", encoding="utf-8")
    p = reopen(p)
    assert p.config.deploy.strategy == "canary"
    first = p.train()
    assert first.approval == "pending" and not first.promoted
    p.approve("1")
    assert p.store.find_deployment("recs").version == "1"  # type: ignore[union-attr]
    second = p.train(force=True)
    assert second.approval == "pending"
    p.approve("2")
    dep = p.store.find_deployment("recs")
    assert dep is not None and dep.version == "2" and dep.strategy == "blue_green"
    assert p.store.find_running_rollout("recs") is None
    assert p.registry.find_alias("recs", "champion").version == "2"  # type: ignore[union-attr]
    with pytest.raises(StateError, match="it is not served, so it cannot be rolled out"):
        deploy(p.runtime, "1", strategy="canary", reason="try")
    p.rollback()
    assert p.store.find_deployment("recs").version == "1"  # type: ignore[union-attr]


def _stage(p: Project, name: str) -> dict:  # type: ignore[type-arg]
    run = p.store.list_runs("recs")[0]
    return next(s["detail"] for s in run.stages if s["name"] == name)


def test_ranking_candidates_is_the_two_stage_models_cap(project: Project) -> None:
    """`ranking.candidates` reaches the built-in recommender at fit time, is recorded as
    its parameter, and changes what the version ranks."""
    from opsloop.train.ranking_register import recommender_params

    p = project
    config = p.root / "opsloop.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("  k: 10\n", "  k: 10\n  candidates: 12\n"),
        encoding="utf-8",
    )
    p = reopen(p)
    o = p.train()
    assert _stage(p, "fit")["candidates"] == 12
    model = p.registry.load("recs", o.version).estimator
    assert model.max_candidates == 12 and model.settings_.max_candidates == 12
    assert recommender_params(model)["max_candidates"] == 12  # the version's params
    # the default (200) is above what the sources give: the same as no cap at all
    config.write_text(
        config.read_text(encoding="utf-8").replace("  candidates: 12\n", ""), encoding="utf-8"
    )
    p = reopen(p)
    wide = p.train()
    assert wide.version == "2"  # the training configuration changed: not skipped
    assert p.registry.load("recs", "2").estimator.settings_.max_candidates == 200
    assert wide.metrics["ndcg_at_k"] != o.metrics["ndcg_at_k"]


def test_a_build_that_sets_another_cap_contradicts_the_configuration(project: Project) -> None:
    p = project
    code = (p.root / "model.py").read_text(encoding="utf-8")
    (p.root / "model.py").write_text(
        code.replace("n_threads=1,", "n_threads=1,\n        max_candidates=30,"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"max_candidates=30, but ranking.candidates is 200 "):
        reopen(p).train()
    (run,) = p.store.list_runs("recs")
    assert run.status == "failed" and [s["name"] for s in run.stages][-1] == "fit"


def test_a_recommender_without_the_parameter_does_not_use_it(tmp_path: Path) -> None:
    p = memory(write_ranking_project(tmp_path / "recs", recommender="popularity"))
    p.train()
    assert _stage(p, "fit")["candidates"] == (
        "not used: PopularityRecommender has no max_candidates parameter"
    )
