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
