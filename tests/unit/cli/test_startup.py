"""`opsloop --help` must not import anything heavy, nor `status`, `events` and `labels add`
what they no longer need (measured in benchmarks/cli_startup.py, not timed here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from opsloop.project import Project

HEAVY = (
    "mlflow",
    "sklearn",
    "fastapi",
    "duckdb",
    "pandas",
    "numpy",
    "sqlalchemy",
    "pandera",
    "uvicorn",
    "scipy",
    "pyarrow",
)

SCRIPT = """
import sys
from opsloop.cli import app
try:
    app(["--help"])
except SystemExit:
    pass
print("LOADED:" + ",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def test_help_imports_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = out.stdout.strip().splitlines()[-1]
    assert "Usage" in out.stdout
    assert loaded == "LOADED:", f"--help imported: {loaded}"


def test_import_opsloop_is_light() -> None:
    code = f"import sys, opsloop; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


LABELS_SCRIPT = """
import sys
from opsloop.cli import app
try:
    app(["labels", "add", {file!r}, "-p", {root!r}, "--json"])
except SystemExit as exc:
    assert not exc.code, exc.code
print("LOADED:" + ",".join(sorted(m for m in ("mlflow", "sklearn", "pandera") if m in sys.modules)))
"""


def test_labels_add_reads_the_classes_from_the_ops_store_without_mlflow(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from opsloop.project import Project
    from tinyproject import write_tiny_project

    root = write_tiny_project(tmp_path / "p")
    p = Project(root)
    target = {"task": "binary_classification", "classes": [0, 1]}
    p.store.add_event("trained", p.name, version="1", evidence={"target": target})
    labels = tmp_path / "l.csv"
    labels.write_text("row_id,label\na,1\nb,false\n")
    out = subprocess.run(
        [sys.executable, "-c", LABELS_SCRIPT.format(file=str(labels), root=str(root))],
        capture_output=True,
        text=True,
        check=True,
    )
    *answer, loaded = out.stdout.strip().splitlines()
    assert loaded == "LOADED:", f"labels add imported: {loaded}"
    added = json.loads("\n".join(answer))
    assert added["rows"] == 2 and added["waiting"] == 2
    assert added["checked_against"] == "one of the classes of version 1 [0, 1]"


# What `status`, `events` and `labels add` stopped importing (issue 14): `status` and
# `events` read the ops store through the DB-API reader (store/reader.py), so they import no
# SQLAlchemy, no Alembic and nothing of the data stack. `labels add` validates a file in pure
# Python (data/label_rows.py), and writes and matches it with DuckDB, the arrival and its
# event through the reader: DuckDB is all it imports of them.
READ_PATH_DROPPED = (*HEAVY, "sqlalchemy.orm", "alembic", "psycopg")
LABELS_DROPPED = tuple(m for m in READ_PATH_DROPPED if m != "duckdb")

COMMAND = """
import sys
from opsloop.cli import app
try:
    app({args!r})
except SystemExit as exc:
    assert not exc.code, exc.code
print("LOADED:" + ",".join(sorted(m for m in {modules!r} if m in sys.modules)))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose ops store has history: a deployment, a run's events, labels."""
    from opsloop.scaffold import init_project

    root = init_project(tmp_path_factory.mktemp("startup") / "p", rows=200)
    p = Project(root)
    p.store.record_deployment(p.name, "1", reason="test")
    p.add_labels(root / "labels.parquet")
    return root


def loaded_by(args: list[str], modules: tuple[str, ...]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", COMMAND.format(args=args, modules=modules)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["status", "--json"],
        ["status", "--at", "1s"],
        ["status", "--at", "2020-01-01", "--json"],
        ["events", "--limit", "50"],
        ["events", "--json"],
        ["dora"],
        ["dora", "--since", "30d", "--json"],
    ],
)
def test_read_commands_import_nothing_heavy(project: Path, command: list[str]) -> None:
    loaded = loaded_by([*command, "-p", str(project)], READ_PATH_DROPPED)
    assert loaded == "LOADED:", f"{command[0]} imported: {loaded}"


def test_a_new_store_is_still_created_by_status(tmp_path: Path) -> None:
    """No reader for a store that does not exist yet: OpsStore creates and migrates it."""
    from opsloop.scaffold import init_project

    root = init_project(tmp_path / "p", rows=50)
    assert not (root / ".opsloop" / "ops.db").exists()
    loaded = loaded_by(["status", "-p", str(root)], ("sqlalchemy", "alembic"))
    assert loaded == "LOADED:alembic,sqlalchemy"
    assert (root / ".opsloop" / "ops.db").is_file()


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_labels_add_imports_no_pandas_nor_sqlalchemy(project: Path, kind: str) -> None:
    import pandas as pd

    labels = project / f"more.{kind}"
    frame = pd.read_parquet(project / "labels.parquet").head(3)
    assert len(frame) > 0
    frame.to_parquet(labels) if kind == "parquet" else frame.to_csv(labels, index=False)
    args = ["labels", "add", str(labels), "-p", str(project), "--json"]
    loaded = loaded_by(args, LABELS_DROPPED)
    assert loaded == "LOADED:", f"labels add imported: {loaded}"
    last = Project(project).events(limit=1)[-1]
    assert last.kind == "labels_added" and last.evidence["rows"] == len(frame)


def test_labels_pandas_must_judge_still_go_through_pandas(project: Path) -> None:
    """A file the light path leaves to pandas (here a padded number) is added all the same,
    and a file with an invalid row is refused with pandas' message, nothing stored."""
    from opsloop.data.labels import LabelValidationError

    labels = project / "padded.csv"
    labels.write_text("customer_id,churned\nc-pad, 1 \n")
    assert Project(project).add_labels(labels).rows == 1
    assert Project(project).events(limit=1)[-1].evidence["source"] == str(labels)
    bad = project / "bad.csv"
    bad.write_text("customer_id,churned\nc-1,1\n,1\n")
    stored = sorted((project / ".opsloop" / "labels").iterdir())
    with pytest.raises(LabelValidationError) as info:
        Project(project).add_labels(bad)
    assert info.value.what == "1 of 2 label rows are invalid; nothing was stored"
    assert "row 2: customer_id=nan churned=1" in str(info.value.got)
    assert sorted((project / ".opsloop" / "labels").iterdir()) == stored
