"""`opsloop --help` must not import anything heavy (measured in benchmarks/, not timed here)."""

from __future__ import annotations

import subprocess
import sys

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
