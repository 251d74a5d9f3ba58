"""Restoring a stashed project folder in place, for the crash harnesses (tests/faults)."""

from __future__ import annotations

import shutil
from pathlib import Path


def sync_tree(src: Path, dst: Path) -> None:
    """Make `dst` a copy of `src`, writing files in place: this process's MLflow keeps its
    SQLite engine (per URI) open, and a replaced file would leave it on the deleted one."""
    for path in sorted(dst.rglob("*"), reverse=True):
        if not (src / path.relative_to(dst)).exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            shutil.copyfile(path, target)
