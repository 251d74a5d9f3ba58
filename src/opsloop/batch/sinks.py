"""Where a batch prediction's rows go, streamed batch by batch and made visible only at the
end (`commit`); `discard` removes every trace of a failed run.

- `RunFolder`: the output, Parquet files under ``<output>/.run=<id>.tmp/`` renamed to
  ``<output>/run=<id>/`` in one step (a new file every `rows_per_file` rows).
- `LogSink`: the same rows in the prediction-log layout (`opsloop.data.predlog`, route
  `batch`): one file per (date, hour) partition of the answer time, written under a hidden
  temporary name and renamed, as the server's writer does (`batch.logfile`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.data.predlog import partition_dir

if TYPE_CHECKING:
    from datetime import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

ROWS_PER_FILE = 2_000_000


class _Writer:
    """One Parquet file written batch by batch; the first batch fixes the schema."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="snappy")
        elif table.schema != self._writer.schema:
            table = table.cast(self._writer.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class RunFolder:
    """The run's output folder, hidden until `commit`."""

    def __init__(self, output: Path, run_id: str, *, rows_per_file: int = ROWS_PER_FILE) -> None:
        self.final = output / f"run={run_id}"
        self.tmp = output / f".run={run_id}.tmp"
        self.rows_per_file = rows_per_file
        self.files = 0
        self._writer: _Writer | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None or self._writer.rows >= self.rows_per_file:
            self._next_file()
        assert self._writer is not None
        self._writer.write(table)

    def _next_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._writer = _Writer(self.tmp / f"part-{self.files:05d}.parquet")
        self.files += 1

    def commit(self) -> Path:
        """Close the files and rename the folder into place (an empty run gets an empty
        folder)."""
        if self._writer is not None:
            self._writer.close()
        self.tmp.mkdir(parents=True, exist_ok=True)
        os.replace(self.tmp, self.final)
        return self.final

    def discard(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):  # the folder goes anyway
                self._writer.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class LogSink:
    """The rows in the prediction log of `model` under `root`, hidden until `commit`."""

    def __init__(self, root: Path, model: str) -> None:
        self.root = Path(root)
        self.model = model
        self.rows = 0
        self._writers: dict[Path, _Writer] = {}

    def write(self, table: pa.Table, answered: datetime) -> None:
        directory = partition_dir(self.root, self.model, answered)
        writer = self._writers.get(directory)
        if writer is None:
            directory.mkdir(parents=True, exist_ok=True)
            writer = _Writer(directory / f".part-{uuid.uuid4().hex}.parquet.tmp")
            self._writers[directory] = writer
        writer.write(table)
        self.rows += table.num_rows

    def commit(self) -> list[Path]:
        done = []
        for writer in self._writers.values():
            writer.close()
            final = writer.path.with_name(writer.path.name.removeprefix(".").removesuffix(".tmp"))
            os.replace(writer.path, final)
            done.append(final)
        self._writers.clear()
        return done

    def discard(self) -> None:
        for writer in self._writers.values():
            with contextlib.suppress(Exception):  # the file goes anyway
                writer.close()
            writer.path.unlink(missing_ok=True)
        self._writers.clear()
