"""The driver's side of a Spark batch prediction's files (`batch/spark.py`): a partition
that scored rows without leaving its file fails the run, dead attempts' files go, and the
part files are numbered from 0 as the DuckDB path numbers them."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsloop.batch.spark import _check_files, _tidy


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_every_partition_that_scored_rows_left_its_file(tmp_path: Path) -> None:
    _touch(tmp_path, "part-00001.parquet", "part-00004.parquet", ".part-00002-0.parquet.tmp")
    _check_files(tmp_path, [1, 4])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "part-00001.parquet",
        "part-00004.parquet",
    ]  # the dead attempt's file removed
    with pytest.raises(RuntimeError, match=r"partitions \[1, 2, 4\] .* files of \[1, 4\]"):
        _check_files(tmp_path, [1, 2, 4])


def test_part_files_are_numbered_from_zero(tmp_path: Path) -> None:
    _touch(tmp_path, "part-00003.parquet", "part-00007.parquet", "part-00012.parquet")
    (tmp_path / "part-00007.parquet").write_bytes(b"seven")
    assert _tidy(tmp_path, "part-{:05d}.parquet") == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    assert (tmp_path / "part-00001.parquet").read_bytes() == b"seven"  # order kept
    assert _tidy(tmp_path / "none", "part-{:05d}.parquet") == 0  # no rows: an empty folder
    assert (tmp_path / "none").is_dir()
