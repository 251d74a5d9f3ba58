"""A `task: ranking` project: the commands that do not run ranking yet say so in one line;
`monitor` and the agent run (`runtime.RANKING_COMMANDS`); read-only commands work."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsloop.cli import app
from opsloop.config import load_config
from opsloop.errors import StateError
from opsloop.project import Project
from opsloop.runtime import check_pipeline_task
from opsloop.scaffold import init_project

EXAMPLES = Path(__file__).parents[2] / "src" / "opsloop" / "examples"


@pytest.fixture(scope="module")
def ranking_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ranking") / "p"
    return init_project(root, example="restaurants", users=200, restaurants=24)


def test_the_check_passes_the_pipelines_tasks_and_refuses_ranking() -> None:
    check_pipeline_task(load_config(EXAMPLES / "churn" / "template" / "opsloop.yaml"))
    ranking = load_config(EXAMPLES / "restaurants" / "template" / "opsloop.yaml")
    for command in (None, "train", "predict", "serve"):
        with pytest.raises(StateError, match="task: ranking, which opsloop cannot yet train"):
            check_pipeline_task(ranking, command)
    for command in ("monitor", "agent"):
        check_pipeline_task(ranking, command)


def test_acting_methods_refuse_a_ranking_project(ranking_project: Path) -> None:
    p = Project(ranking_project)
    for act in (p.train, lambda: p.serve(workers=2), p.predict):
        with pytest.raises(StateError, match="cannot yet train, serve or batch-predict"):
            act()


def test_the_cli_says_so_in_one_line_and_status_still_works(ranking_project: Path) -> None:
    runner = CliRunner()
    for command in (["train"], ["predict"]):
        result = runner.invoke(app, [*command, "-p", str(ranking_project)])
        assert result.exit_code == 1, (command, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: model 'restaurants' has task:")
    monitor = runner.invoke(app, ["monitor", "-p", str(ranking_project)])  # runs: no version
    lines = [line for line in monitor.output.splitlines() if line.strip()]
    assert monitor.exit_code == 1 and len(lines) == 1, monitor.output
    assert "no deployed version to monitor" in lines[0]
    status = runner.invoke(app, ["status", "-p", str(ranking_project), "--json"])
    assert status.exit_code == 0, status.output
