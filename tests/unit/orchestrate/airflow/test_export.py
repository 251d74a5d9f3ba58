"""The DAG files `opsloop airflow export` writes: valid Python carrying the project's
values; the Airflow run itself is tests/integration/test_airflow_export.py."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

from opsloop.config import load_config
from opsloop.errors import InvalidInputError
from opsloop.orchestrate.airflow import export_dags
from opsloop.orchestrate.airflow.export import rollout_interval
from tinyproject import run_cli


def constants(path: Path) -> dict[str, object]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in {"MODEL", "PYTHON", "PROJECT", "STACK"}
    }


def test_export_writes_three_dags_with_the_project_values(
    tiny_project: Path, tmp_path: Path
) -> None:
    config = load_config(tiny_project / "opsloop.yaml")
    odd = tmp_path / 'it\'s "odd"' / "dags"  # quotes in a path cannot break the code
    exported = export_dags(
        config, project=tiny_project, out=odd, python="/opt/env/bin/python", stack="team"
    )
    assert [d.dag_id for d in exported] == [
        "opsloop_tiny_monitoring",
        "opsloop_tiny_training",
        "opsloop_tiny_rollout",
    ]
    for dag in exported:
        text = dag.path.read_text()
        assert constants(dag.path) == {
            "MODEL": "tiny",
            "PYTHON": "/opt/env/bin/python",
            "PROJECT": str(tiny_project.resolve()),
            "STACK": "team",
        }
        assert f'dag_id="{dag.dag_id}"' in text and "$" not in text
    monitoring, training, rollout = (d.path.read_text() for d in exported)
    assert 'schedule="*/15 * * * *"' in monitoring and "outlets=[RETRAIN]" in monitoring
    assert "AirflowSkipException" in monitoring
    assert "schedule=[RETRAIN]" in training and "triggering_asset_events" in training
    assert "schedule=timedelta(seconds=60)" in rollout
    assert (
        'uri="opsloop://tiny/retrain"' in monitoring and 'uri="opsloop://tiny/retrain"' in training
    )


def test_rollout_interval_follows_the_bake_time(tiny_project: Path) -> None:
    config = load_config(tiny_project / "opsloop.yaml")
    assert rollout_interval(config) == timedelta(minutes=1)
    slow = config.model_copy(
        update={"deploy": config.deploy.model_copy(update={"bake": timedelta(hours=1)})}
    )
    assert rollout_interval(slow) == timedelta(minutes=12)


def test_bad_out_and_python_are_refused(tiny_project: Path, tmp_path: Path) -> None:
    config = load_config(tiny_project / "opsloop.yaml")
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(InvalidInputError, match="--out must be a folder"):
        export_dags(config, project=tiny_project, out=a_file)
    with pytest.raises(InvalidInputError, match="--python must be an absolute path"):
        export_dags(config, project=tiny_project, out=tmp_path / "d", python="python3")


def test_cli_export(tiny_project: Path, tmp_path: Path) -> None:
    code, out = run_cli(
        "airflow", "export", "-p", str(tiny_project), "--out", str(tmp_path / "dags")
    )
    assert code == 0, out
    assert sorted(p.name for p in (tmp_path / "dags").iterdir()) == [
        "opsloop_tiny_monitoring.py",
        "opsloop_tiny_rollout.py",
        "opsloop_tiny_training.py",
    ]


def test_generated_files_pass_the_project_lint(tiny_project: Path, tmp_path: Path) -> None:
    """Readable, editable Python: clean under the rules opsloop's own code follows."""
    import subprocess
    import sys

    config = load_config(tiny_project / "opsloop.yaml")
    export_dags(config, project=tiny_project, out=tmp_path / "dags")
    pyproject = Path(__file__).resolve().parents[4] / "pyproject.toml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--config",
            str(pyproject),
            "--extend-ignore",
            "E501",
            str(tmp_path / "dags"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for path in (tmp_path / "dags").iterdir():  # only the project's path may be longer
        assert all(
            len(line) <= 100
            for line in path.read_text().splitlines()
            if str(tiny_project) not in line
        ), path


def test_a_predict_section_adds_the_batch_prediction_dag(tmp_path: Path) -> None:
    from tinyproject import write_tiny_project

    root = write_tiny_project(
        tmp_path / "p",
        extra_yaml="predict: {input: in/*.parquet, output: out, schedule: '0 2 * * *', "
        "publish: false}\n",
    )
    exported = export_dags(load_config(root / "opsloop.yaml"), project=root, out=tmp_path / "d")
    batch = exported[-1]
    assert (batch.dag_id, batch.schedule) == ("opsloop_tiny_batch", "0 2 * * *")
    text = batch.path.read_text()
    tree = ast.parse(text)
    publish = next(
        n.value
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "PUBLISH"
    )
    assert ast.literal_eval(publish) is False
    assert 'schedule="0 2 * * *"' in text and "runs are not published" in text
    assert constants(batch.path)["MODEL"] == "tiny"
    plain = export_dags(
        load_config(write_tiny_project(tmp_path / "q") / "opsloop.yaml"),
        project=tmp_path / "q",
        out=tmp_path / "e",
    )
    assert [d.dag_id.rsplit("_", 1)[1] for d in plain] == ["monitoring", "training", "rollout"]
