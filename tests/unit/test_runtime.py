"""A `task: ranking` project: every command that acts on the model and is not in
`RANKING_COMMANDS` says in one line that the pipeline does not run ranking yet; read-only
commands and `opsloop predict` (the nightly top-k) work."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def ranking_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ranking") / "p"
    return init_project(root, example="restaurants", users=200, restaurants=24)


def test_the_check_passes_the_pipelines_tasks_and_refuses_ranking() -> None:
    check_pipeline_task(load_config(EXAMPLES / "churn" / "template" / "opsloop.yaml"))
    ranking = load_config(EXAMPLES / "restaurants" / "template" / "opsloop.yaml")
    with pytest.raises(StateError, match="task: ranking, which opsloop cannot yet train"):
        check_pipeline_task(ranking)
    with pytest.raises(StateError, match="task: ranking, which opsloop cannot yet train"):
        check_pipeline_task(ranking, "train")
    assert "predict" in RANKING_COMMANDS
    check_pipeline_task(ranking, "predict")


def test_acting_methods_refuse_a_ranking_project(ranking_project: Path) -> None:
    p = Project(ranking_project)
    for act in (p.train, p.monitor, lambda: p.serve(workers=2), p.tick, lambda: p.approve("1")):
        with pytest.raises(StateError, match="cannot yet train, serve or monitor"):
            act()


def test_the_cli_says_so_in_one_line_and_status_still_works(ranking_project: Path) -> None:
    runner = CliRunner()
    for command in (["train"], ["monitor"], ["agent", "--once"]):
        result = runner.invoke(app, [*command, "-p", str(ranking_project)])
        assert result.exit_code == 1, (command, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: model 'restaurants' has task:")
    status = runner.invoke(app, ["status", "-p", str(ranking_project), "--json"])
    assert status.exit_code == 0, status.output
