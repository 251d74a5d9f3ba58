"""The restaurants demo's pieces: its clock, its project configuration, the visits it posts
(the whole demo: tests/integration/test_demo_restaurants.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from opsloop.cli.demo_restaurants import (
    DEMO_WINDOW,
    HISTORY_END,
    DemoClock,
    day_file,
    demo_config,
    visit_bodies,
)
from opsloop.config import load_config
from opsloop.errors import StateError
from opsloop.examples.restaurants import Scenario, arriving
from opsloop.examples.restaurants.world import build_world
from opsloop.examples.webapp.visitlog import parse_visit

TEMPLATE = Path(__file__).parents[3] / "src/opsloop/examples/restaurants/template/opsloop.yaml"


def test_the_clock_moves_forward_only() -> None:
    clock = DemoClock(HISTORY_END)
    assert clock() == HISTORY_END == datetime(2025, 6, 30, tzinfo=UTC)
    assert clock.at(date(2025, 7, 1), timedelta(hours=2)) == datetime(2025, 7, 1, 2, tzinfo=UTC)
    assert clock() == datetime(2025, 7, 1, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.at(date(2025, 7, 1), timedelta(hours=1))


def test_the_demo_config_is_the_template_with_a_weeks_window(tmp_path: Path) -> None:
    template = load_config(TEMPLATE)
    text = TEMPLATE.read_text(encoding="utf-8")
    (tmp_path / "opsloop.yaml").write_text(demo_config(text, users=5_000), encoding="utf-8")
    demo = load_config(tmp_path / "opsloop.yaml")
    assert demo.monitor.window == timedelta(days=7) == timedelta(days=int(DEMO_WINDOW[:-1]))
    assert template.monitor.window == timedelta(days=1)
    margins = {m.metric: m.margin for m in template.gate.metrics}
    widened = {m.metric: m.margin for m in demo.gate.metrics}
    assert margins["ndcg_at_k"] == 0.005 and margins["coverage"] == 0.05
    assert (
        set(widened)
        == set(margins)
        == {
            "ndcg_at_k",
            "recall_at_k",
            "cold_start_ndcg_at_k",
            "coverage",
        }
    )
    for metric, margin in margins.items():  # x sqrt(50,000 / 5,000)
        assert widened[metric] == pytest.approx(round(margin * 10**0.5, 4))
    assert demo.model_copy(update={"monitor": template.monitor, "gate": template.gate}) == template
    full = tmp_path / "full"
    full.mkdir()
    (full / "opsloop.yaml").write_text(demo_config(text, users=50_000), encoding="utf-8")
    assert load_config(full / "opsloop.yaml").gate == template.gate  # the full size: as is
    with pytest.raises(StateError, match=r"monitor\.window"):
        demo_config("model: x\n", users=5_000)


def test_the_demos_world_is_the_projects_with_the_trend_after_the_history() -> None:
    from opsloop.cli.demo_restaurants import SEED, TREND_CUISINE
    from opsloop.examples.restaurants import generate

    project = generate(users=400, restaurants=50, seed=SEED)  # what `opsloop init` writes
    world = build_world(
        Scenario(
            users=400,
            restaurants=50,
            changes={"trend"},
            change_at=HISTORY_END.date(),
            seed=SEED,
            trend_cuisine=TREND_CUISINE,
            trend_days=1,
        )
    )
    pd.testing.assert_frame_equal(world.users, project.users)
    pd.testing.assert_frame_equal(world.restaurants, project.restaurants)
    before = arriving(world, HISTORY_END - timedelta(days=5), HISTORY_END)
    history = project.visits[project.visits["visited_at"] >= HISTORY_END - timedelta(days=5)]
    pd.testing.assert_frame_equal(before.reset_index(drop=True), history.reset_index(drop=True))


def test_the_posted_visits_are_the_arriving_ones_with_their_times() -> None:
    world = build_world(
        Scenario(users=300, restaurants=40, changes={"trend"}, seed=7, change_at=HISTORY_END.date())
    )
    visits = arriving(world, HISTORY_END, HISTORY_END + timedelta(days=3))
    bodies = visit_bodies(visits)
    assert len(bodies) == len(visits) > 0
    parsed = [parse_visit(b, rating_range=(1, 5), rated=True) for b in bodies]
    assert [v.time for v in parsed] == list(visits["visited_at"].dt.to_pydatetime())
    assert [v.user for v in parsed] == list(visits["user_id"].astype(str))
    assert [v.rating for v in parsed] == list(visits["rating"].astype(float))
    assert all(HISTORY_END <= v.time < HISTORY_END + timedelta(days=3) for v in parsed)
    assert day_file(date(2025, 7, 1)) == "visits-20250701.parquet"


def test_the_cli_refuses_an_unknown_example_and_misplaced_sizes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from opsloop.cli import app

    runner = CliRunner()
    bad = runner.invoke(app, ["demo", str(tmp_path / "a"), "--example", "nope"])
    assert bad.exit_code == 1 and "unknown demo example 'nope'" in bad.output
    sized = runner.invoke(app, ["demo", str(tmp_path / "b"), "--users", "100"])
    assert sized.exit_code == 1 and "--users and --restaurants size the restaurants demo" in (
        sized.output
    )
    two = runner.invoke(app, ["demo", str(tmp_path / "c"), "--project", str(tmp_path / "d")])
    assert two.exit_code == 1 and "two demo folders given" in two.output
    assert not any((tmp_path / name).exists() for name in "abcd")  # refused before anything
