"""The per-command task check: a `task: ranking` project trains, gates, has its versions
decided on, takes visits as labels, is monitored and makes its nightly lists
(`runtime.RANKING_COMMANDS`); every other acting command says in one line that it does not
run ranking yet; read-only commands work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsloop.cli import app
from opsloop.config import load_config
from opsloop.errors import StateError
from opsloop.project import Project
from opsloop.runtime import RANKING_COMMANDS, check_pipeline_task
from opsloop.scaffold import init_project

EXAMPLES = Path(__file__).parents[2] / "src" / "opsloop" / "examples"
REFUSED = ("serve", "deploy", "rollout", "backtest", "triggers")


@pytest.fixture(scope="module")
def ranking_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ranking") / "p"
    return init_project(root, example="restaurants", users=200, restaurants=24)


def test_the_check_passes_ranking_commands_and_refuses_the_others() -> None:
    churn = load_config(EXAMPLES / "churn" / "template" / "opsloop.yaml")
    ranking = load_config(EXAMPLES / "restaurants" / "template" / "opsloop.yaml")
    for command in (*RANKING_COMMANDS, *REFUSED):
        check_pipeline_task(churn, command)
    for command in RANKING_COMMANDS:
        check_pipeline_task(ranking, command)
    assert {
        "train",
        "gate",
        "approve",
        "promote",
        "rollback",
        "monitor",
        "agent",
        "predict",
        "batch",
    } <= RANKING_COMMANDS
    for command in REFUSED:
        with pytest.raises(StateError, match=f"which `opsloop {command}` does not run yet"):
            check_pipeline_task(ranking, command)
    with pytest.raises(StateError) as info:
        check_pipeline_task(ranking, "deploy")
    assert "`opsloop promote restaurants VERSION`" in (info.value.fix or "")


def test_unsupported_methods_refuse_a_ranking_project(ranking_project: Path) -> None:
    p = Project(ranking_project)
    now = datetime.now(UTC)
    for act in (
        lambda: p.serve(workers=2),
        lambda: p.deploy("1"),
        p.advance_rollout,
        lambda: p.backtest(start=now - timedelta(days=14), end=now, every=timedelta(days=7)),
    ):
        with pytest.raises(StateError, match=r"task: ranking, which `opsloop [a-z]+` does not"):
            act()


def test_the_cli_says_so_in_one_line_and_status_still_works(ranking_project: Path) -> None:
    runner = CliRunner()
    for command in (
        ["serve"],
        ["deploy", "restaurants", "1"],
        ["rollout", "advance", "restaurants"],
        ["triggers", "check"],
        ["backtest", "--from", "2025-01-01", "--to", "2025-02-01"],
    ):
        result = runner.invoke(app, [*command, "-p", str(ranking_project)])
        assert result.exit_code == 1, (command, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: model 'restaurants' has task:")
        assert f"`opsloop {command[0]}` does not run yet" in lines[0]
    status = runner.invoke(app, ["status", "-p", str(ranking_project), "--json"])
    assert status.exit_code == 0, status.output
