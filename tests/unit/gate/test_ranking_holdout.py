"""The ranking gate on a version's holdout: both versions recommend for the same users
(evaluation users and the regression set) from the same data; a better challenger passes
superiority, an equal one does not, and lists the training already made are reused."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from opsloop.data.window import Window
from opsloop.gate.ranking_holdout import run_holdout_gate
from opsloop.project import Project
from opsloop.ranking.checks import as_ranking_data
from opsloop.ranking.holdout import RankingHoldout, ranking_holdout
from opsloop.ranking.models import PopularityRecommender
from opsloop.registry.base import LoadedModel
from opsloop.runtime import Runtime
from ranking_fixtures import START, restaurant_two_stage
from rankingproject import write_ranking_project

SUPERIORITY = "    - {metric: ndcg_at_k, policy: superiority, margin: 0.0}\n"


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> tuple[Runtime, RankingHoldout]:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    root = write_ranking_project(tmp_path_factory.mktemp("gate") / "recs", rules=SUPERIORITY)
    rt = Project(
        root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine()
    ).runtime
    start = START.tz_localize("UTC").to_pydatetime()
    window = Window(start, start + timedelta(days=60))
    assert rt.config.ranking is not None
    data = as_ranking_data(rt.call_load(window), "model.py")
    return rt, ranking_holdout(data, rt.config.ranking, window.end)


def model(version: str, recommender: object) -> LoadedModel:
    return LoadedModel("recs", version, recommender, [], "ranking")


def test_a_better_challenger_passes_and_an_equal_one_does_not(setting) -> None:  # type: ignore[no-untyped-def]
    rt, holdout = setting
    two_stage = restaurant_two_stage(max_train_users=600).fit(holdout.train)
    popular = PopularityRecommender().fit(holdout.train)
    better = run_holdout_gate(
        rt,
        holdout=holdout,
        challenger=model("2", two_stage),
        champion=model("1", popular),
        window=None,
    )
    assert better.passed, better.reasons
    row = better.metrics[0]
    assert row["challenger"] > row["champion"] and row["ci_low"] > 0
    assert better.regression_set is not None and better.regression_set["rows"] == 20
    assert better.holdout_rows == holdout.evaluated
    assert better.holdout_start is not None and better.holdout_start.startswith("2026-02-16")

    worse = run_holdout_gate(
        rt,
        holdout=holdout,
        challenger=model("3", popular),
        champion=model("2", two_stage),
        window=None,
    )
    assert not worse.passed

    equal = run_holdout_gate(
        rt,
        holdout=holdout,
        challenger=model("3", two_stage),
        champion=model("2", two_stage),
        window=None,
    )
    assert not equal.passed  # superiority: equal is not better
    assert equal.metrics[0]["challenger"] == pytest.approx(equal.metrics[0]["champion"])


def test_the_trainings_lists_are_reused(setting) -> None:  # type: ignore[no-untyped-def]
    rt, holdout = setting
    popular = PopularityRecommender(segment_column="area").fit(holdout.train)
    top, _ = holdout.recommend(popular)
    fresh = run_holdout_gate(
        rt, holdout=holdout, challenger=model("1", popular), champion=None, window=None
    )
    kept = run_holdout_gate(
        rt,
        holdout=replace(holdout, lists=top),
        challenger=model("1", popular),
        champion=None,
        window=None,
    )
    made = {k: v for k, v in fresh.to_dict().items() if k != "created"}
    assert made == {k: v for k, v in kept.to_dict().items() if k != "created"}
    assert fresh.passed and fresh.champion_version is None
