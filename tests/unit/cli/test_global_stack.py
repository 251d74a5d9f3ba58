"""`opsloop --stack NAME <command>`: the global switch works for every command that opens
the project, a command's own --stack wins over it, and it wins over $OPSLOOP_STACK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsloop.cli import app
from opsloop.store import OpsStore
from tinyproject import write_tiny_project


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project whose `team` stack has an ops store of its own, with one event in it."""
    team_store = tmp_path / "team-ops.db"
    root = write_tiny_project(
        tmp_path / "tiny",
        extra_yaml=(
            "stacks:\n"
            "  team:\n"
            f"    ops_store: sqlite:///{team_store}\n"
            "    prediction_log: team-predictions\n"
        ),
    )
    store = OpsStore(f"sqlite:///{team_store}")
    store.add_event("promoted", "tiny", version="7", summary="on the team stack")
    store.close()
    return root


def events(root: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    result = CliRunner().invoke(app, [*args], env=env)
    assert result.exit_code == 0, result.output
    return [e["summary"] for e in json.loads(result.output)]


def test_the_global_switch_picks_the_stack(root: Path) -> None:
    p = str(root)
    assert events(root, "--stack", "team", "events", "-p", p, "--json") == ["on the team stack"]
    assert events(root, "events", "-p", p, "--json") == []  # the file's `stack: local`


def test_a_commands_own_stack_wins_and_the_global_one_beats_the_environment(root: Path) -> None:
    p = str(root)
    assert events(root, "--stack", "team", "events", "--stack", "local", "-p", p, "--json") == []
    team = {"OPSLOOP_STACK": "team"}
    assert events(root, "events", "-p", p, "--json", env=team) == ["on the team stack"]
    assert events(root, "--stack", "local", "events", "-p", p, "--json", env=team) == []


def test_the_global_switch_reaches_nested_commands(root: Path) -> None:
    result = CliRunner().invoke(app, ["--stack", "team", "monitor", "-p", str(root), "history"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        app, ["--stack", "team", "rollout", "status", "tiny", "-p", str(root), "--json"]
    )
    assert result.exit_code == 0, result.output


def test_an_unknown_stack_is_one_clear_error(root: Path) -> None:
    result = CliRunner().invoke(app, ["--stack", "nope", "status", "-p", str(root)])
    assert result.exit_code == 1
    assert "'nope' is not defined" in result.output and "team" in result.output


def test_a_relative_prediction_log_is_the_projects(root: Path) -> None:
    from opsloop.project import Project

    assert Project(root, stack="team").stack.prediction_log == str(root / "team-predictions")
