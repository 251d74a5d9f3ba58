"""Ingest ground truth: validate a CSV/Parquet file (or frame) with the id column and the
target against the target's contract (`opsloop.data.labels`), and store it as a normalised
label file beside the prediction log; for a recommender, its visits (`opsloop.data.visits`).

Files are written to a temporary name and renamed, so readers never see a partial file and
a failed ingest leaves what was stored before untouched.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from opsloop.data.labels import LabelContract, ValidLabels, validate_labels
from opsloop.data.visits import ValidVisits, VisitColumns, validate_visits
from opsloop.errors import InvalidInputError, file_error

if TYPE_CHECKING:
    import pyarrow as pa


def read_label_file(source: Path) -> pd.DataFrame:
    suffix = source.suffix.lower()
    if not source.is_file():
        raise InvalidInputError(
            f"label file {source} does not exist",
            fix="check the path",
        )
    try:
        if suffix == ".csv":
            return pd.read_csv(source)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(source)
    except Exception as exc:  # pandas/pyarrow raise many types for a corrupt file
        raise InvalidInputError(
            f"cannot read label file {source}: {type(exc).__name__}: {exc}",
            expected="a readable CSV or Parquet file",
            fix="check the file's format",
        ) from None
    raise InvalidInputError(
        f"unsupported label file type {suffix or '(none)'!r}",
        expected="a .csv or .parquet file",
        got=source.name,
    )


def ingest_labels(
    source: Path | str | pd.DataFrame,
    labels_root: Path,
    *,
    id_column: str,
    target: str,
    contract: LabelContract | None = None,
    skip_invalid: bool = False,
    part_name: str | None = None,
) -> ValidLabels:
    """Validate and store labels (all-or-nothing unless `skip_invalid`); what was stored.
    Without `contract`, labels are checked for ids and values only (any non-empty value).
    With `part_name`, the stored file gets that name (a second ingest of the same content
    replaces it rather than adding a copy)."""
    frame = source if isinstance(source, pd.DataFrame) else read_label_file(Path(source))
    missing = [c for c in (id_column, target) if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"the labels lack the column(s) {missing}",
            expected=f"columns {id_column!r} (the prediction id) and {target!r} (the label)",
            got=f"columns {list(frame.columns)}",
            fix=f"rename the columns to {id_column!r} and {target!r}",
        )
    if frame.empty:
        raise InvalidInputError(
            "the label file has no rows",
            expected=f"rows of {id_column!r} and {target!r}",
            got="a header only",
        )
    valid = validate_labels(
        frame,
        contract or LabelContract("any"),
        id_column=id_column,
        target=target,
        skip_invalid=skip_invalid,
    )
    out = valid.frame.assign(label_ts=pd.Timestamp(datetime.now(UTC)))
    write_part(out, labels_root, part_name)
    return valid


def ingest_visits(
    source: Path | str | pd.DataFrame,
    labels_root: Path,
    columns: VisitColumns,
    *,
    skip_invalid: bool = False,
    part_name: str | None = None,
) -> ValidVisits:
    """Validate and store a recommender's visits as labels (`data/visits.py`: the user as
    `prediction_id`, the item as `label`, the visit time as `label_ts`, and `rating`),
    all-or-nothing unless `skip_invalid`."""
    frame = source if isinstance(source, pd.DataFrame) else read_label_file(Path(source))
    valid = validate_visits(frame, columns, skip_invalid=skip_invalid)
    write_part(valid.frame, labels_root, part_name, schema=_visit_schema())
    return valid


def _visit_schema() -> pa.Schema:
    """A stored visit's columns (`data/visits.py` `STORED`) and their Parquet types."""
    import pyarrow as pa

    return pa.schema(
        [
            ("prediction_id", pa.string()),
            ("label", pa.string()),
            ("label_ts", pa.timestamp("us", tz="UTC")),
            ("rating", pa.float64()),
        ]
    )


def write_part(
    frame: pd.DataFrame,
    labels_root: Path,
    part_name: str | None = None,
    *,
    schema: pa.Schema | None = None,
) -> Path:
    """`frame` as the label file `part_name` (default: a new unique name), written to a
    temporary name and renamed: whole or not at all. `schema`: the file's column types
    (default: pandas' own)."""
    name = part_name or f"part-{uuid.uuid4().hex}.parquet"
    tmp = labels_root / f".{name}.tmp"
    try:
        labels_root.mkdir(parents=True, exist_ok=True)
        if schema is None:
            frame.to_parquet(tmp, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), tmp)
        os.replace(tmp, labels_root / name)
    except OSError as exc:  # nothing stored: the file is written whole or not at all
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise file_error(exc, "storing the labels", labels_root) from None
    return labels_root / name
