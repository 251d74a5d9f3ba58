"""Adding labels, shared by `opsloop labels add` (`Project.add_labels`) and the inbox: the
target's contract from the ops store, validation and storage, and how many of the stored
labels match a logged prediction.

The contract is the deployed version's (else the newest trained version's) task and classes,
recorded in its `trained` event at registration — read from the ops store, so adding labels
imports neither MLflow nor scikit-learn. A version trained before classes were recorded has
its labels checked by type only.

`add_label_file` is the same for a CSV or Parquet file on DuckDB and the DB-API reader,
without pandas or SQLAlchemy (`opsloop labels add`); it hands a file back (None) wherever
pandas must judge it (`data/label_rows.py`), and `store_labels` does.

A recommender's labels are its users' visits (`task: ranking`; `store_visits`, which
`store_labels` hands them to): checked by `data/visits.py`, stored as `prediction_id` (the
user), `label` (the item), `label_ts` (the visit's time) and `rating`. A visit is
`matched` when its user has a list of their own in the published output (`opsloop predict
--publish`): the list it can be judged against. The others (a user the run did not score,
served the fallback list, or nothing published yet) are `waiting`: stored all the same,
they count once a published run lists their user. Many visits per user are normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.data.label_contract import LabelContract, contract_from_events
from opsloop.errors import OpsloopError

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.config import ProjectConfig
    from opsloop.data.visits import VisitColumns
    from opsloop.engines.base import WindowReader
    from opsloop.store.ports import EventLog, StoreReads

TRAINED_EVENTS = 200
# the data arrivals of label files (`opsloop labels add`, the inbox), counted by the
# `labels` trigger
LABELS_SOURCE = "labels"


def content_seq(digest: str) -> int:
    """The arrival sequence number of a content hash (60 bits: fits a signed BIGINT)."""
    return int(digest[:15], 16)


@dataclass(frozen=True)
class LabelsAdded:
    """What one label file added: `rows` stored, of which `matched` have a logged
    prediction and `waiting` not yet (stored: they match when the prediction is logged);
    `rejected` invalid rows left out (only with `skip_invalid`), `duplicates` repeated rows
    kept once; `checked_against` what the values were checked against."""

    rows: int
    matched: int
    waiting: int
    rejected: int
    duplicates: int
    checked_against: str


def labels_summary(task: str, added: LabelsAdded, where: str = "") -> str:
    """The `labels_added` event's summary; `where`: e.g. " from the inbox file x.csv"."""
    if task == "ranking":
        return (
            f"{added.rows} visits added as labels{where} ({added.matched} by a user with a "
            f"published list, {added.waiting} waiting)"
        )
    return (
        f"{added.rows} labels added{where} ({added.matched} matched a logged prediction, "
        f"{added.waiting} waiting)"
    )


def label_contract(store: StoreReads, model: str, task: str) -> LabelContract:
    """The deployed version's target contract, else the newest trained version's, else
    the task alone."""
    deployment = store.find_deployment(model)
    version = deployment.version if deployment is not None else None
    return _contract_from_events(store, model, task, version)


def _contract_from_events(
    events: EventLog | StoreReads, model: str, task: str, version: str | None
) -> LabelContract:
    trained = events.list_events(model, kinds=["trained"], limit=TRAINED_EVENTS)
    return contract_from_events(trained, task, version)


def store_labels(
    source: Path | str | pd.DataFrame,
    *,
    config: ProjectConfig,
    store: StoreReads,
    engine: WindowReader,
    labels_root: Path,
    part_name: str,
    skip_invalid: bool = False,
) -> LabelsAdded:
    """Validate and store one label file (a recommender's: visits, `store_visits`);
    raises `InvalidInputError` (nothing stored) when it cannot be read, lacks a column or
    has an invalid row (unless `skip_invalid`)."""
    from opsloop.engines.labels import ingest_labels

    if config.task == "ranking":
        return store_visits(
            source,
            config=config,
            store=store,
            labels_root=labels_root,
            part_name=part_name,
            skip_invalid=skip_invalid,
        )

    contract = label_contract(store, config.model, config.task)
    valid = ingest_labels(
        source,
        labels_root,
        id_column=config.id_column,
        target=config.target,
        contract=contract,
        skip_invalid=skip_invalid,
        part_name=part_name,
    )
    rows = len(valid.frame)
    matched = engine.count_logged(config.model, valid.frame["prediction_id"].tolist())
    return LabelsAdded(
        rows=rows,
        matched=matched,
        waiting=rows - matched,
        rejected=valid.rejected,
        duplicates=valid.duplicates,
        checked_against=contract.describe(),
    )


def add_label_file(
    path: Path,
    *,
    config: ProjectConfig,
    reads: StoreReads,
    prediction_root: Path,
    labels_root: Path,
    part_name: str,
    skip_invalid: bool = False,
) -> LabelsAdded | None:
    """`store_labels` of a CSV or Parquet file without pandas (DuckDB reads, writes and
    counts), or None — nothing stored — when pandas must read or judge the file (a file
    with an error among them: `store_labels` then says what)."""
    from opsloop.data.label_rows import LabelColumn, validate_rows
    from opsloop.engines.label_files import (
        connect,
        count_logged,
        read_parquet_columns,
        write_label_rows,
    )

    wanted = (config.id_column, config.target)
    suffix = path.suffix.lower()
    if config.task == "ranking" or wanted[0] == wanted[1]:
        return None  # visits (`store_visits`), or columns only pandas tells apart
    if suffix not in (".csv", ".parquet", ".pq"):
        return None
    contract = label_contract(reads, config.model, config.task)
    columns: dict[str, LabelColumn] | None = None
    if suffix == ".csv":
        from opsloop.data.csv_columns import read_csv_columns

        found = read_csv_columns(path, wanted)
        if found is None:
            return None
        columns = found.columns
    with connect() as con:
        if columns is None:
            columns = read_parquet_columns(con, path, wanted)
        if columns is None:
            return None
        rows = validate_rows(
            columns[wanted[0]], columns[wanted[1]], contract, skip_invalid=skip_invalid
        )
        if rows is None:
            return None
        write_label_rows(con, rows, labels_root, part_name)
        matched = count_logged(con, prediction_root, config.model, rows.ids)
    return LabelsAdded(
        rows=len(rows.ids),
        matched=matched,
        waiting=len(rows.ids) - matched,
        rejected=rows.rejected,
        duplicates=rows.duplicates,
        checked_against=contract.describe(),
    )


@dataclass(frozen=True)
class _Reads:
    """What `read_current` needs: the configuration and the store."""

    config: ProjectConfig
    store: StoreReads


def visit_columns(config: ProjectConfig) -> VisitColumns:
    """Where a visit's user, item, time and rating are: the project's columns."""
    from opsloop.data.visits import VisitColumns

    assert config.ranking is not None  # task: ranking has its section (config/project.py)
    return VisitColumns.of(config.ranking, config.time_column)


def store_visits(
    source: Path | str | pd.DataFrame,
    *,
    config: ProjectConfig,
    store: StoreReads,
    labels_root: Path,
    part_name: str,
    skip_invalid: bool = False,
) -> LabelsAdded:
    """Validate and store one file (or frame) of a recommender's visits; raises
    `VisitValidationError` (nothing stored) when it lacks a column or has an invalid row
    (unless `skip_invalid`), `InvalidInputError` when it cannot be read."""
    from opsloop.engines.labels import ingest_visits

    columns = visit_columns(config)
    valid = ingest_visits(
        source, labels_root, columns, skip_invalid=skip_invalid, part_name=part_name
    )
    rows = len(valid.frame)
    matched = listed_visits(config, store, valid.frame["prediction_id"].tolist())
    return LabelsAdded(
        rows=rows,
        matched=matched,
        waiting=rows - matched,
        rejected=valid.rejected,
        duplicates=valid.duplicates,
        checked_against=columns.describe(),
    )


def listed_visits(config: ProjectConfig, store: StoreReads, users: list[str]) -> int:
    """How many of the visits' `users` (one per visit) have a list of their own in the
    published output; 0 when nothing is published or its output cannot be read (the
    visits are stored by then: counting must not undo that)."""
    from opsloop.batch.publish import read_current
    from opsloop.batch.toplists import count_listed

    assert config.ranking is not None
    try:
        current = read_current(_Reads(config, store))
        return count_listed(current, config.ranking.user_column, users)
    except (OpsloopError, OSError, ValueError):  # nothing published; unreadable (ArrowInvalid)
        return 0
