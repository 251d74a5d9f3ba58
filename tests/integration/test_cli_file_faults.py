"""Finding 8 of issue 19: file-system faults and unreadable files give one actionable line
and exit 1 from a real `opsloop` process, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from opsloop.project import Project
from tinyproject import write_tiny_project


def opsloop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsloop", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_config_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "opsloop.yaml").write_bytes(b"model: caf\xe9\ntask: binary_classification\n")
    line = one_error_line(opsloop("status", "-p", str(tmp_path)))
    assert "not UTF-8" in line and "0xe9 on line 1" in line and "Fix: save" in line


def test_a_missing_code_file_has_one_fix(tmp_path: Path) -> None:
    root = write_tiny_project(tmp_path / "tiny")
    (root / "model.py").unlink()
    line = one_error_line(opsloop("train", "-p", str(root)))
    assert line.count("Fix:") == 1 and "create it or set `code:`" in line


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` unwritable: chmod for a user, the immutable flag for root (whom chmod does
    not stop)."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    else:
        if subprocess.run(["chattr", "+i", str(folder)], check=False).returncode != 0:
            pytest.skip("no way to make a folder read-only for root here (chattr)")
        undo = ["chattr", "-i", str(folder)]
    try:
        yield
    finally:
        subprocess.run(undo, check=True)


@pytest.mark.slow
def test_labels_add_on_a_read_only_folder(tmp_path: Path) -> None:
    root = write_tiny_project(tmp_path / "tiny")
    project = Project(root)
    project.train()
    labels = tmp_path / "labels.csv"
    labels.write_text("row_id,label\na,1\nb,0\n")
    with read_only(project.paths.labels):
        line = one_error_line(opsloop("labels", "add", str(labels), "-p", str(root)))
    assert "storing the labels failed" in line and str(project.paths.labels) in line
    assert "Fix: make" in line
    assert not list(project.paths.labels.iterdir())  # nothing half-written
