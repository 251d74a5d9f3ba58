"""Adding labels, shared by `opsloop labels add` (`Project.add_labels`) and the inbox: the
target's contract from the ops store, validation and storage, and how many of the stored
labels match a logged prediction.

The contract is the deployed version's (else the newest trained version's) task and classes,
recorded in its `trained` event at registration — read from the ops store, so adding labels
imports neither MLflow nor scikit-learn. A version trained before classes were recorded has
its labels checked by type only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.data.label_contract import LabelContract, contract_from_events

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.config import ProjectConfig
    from opsloop.engines.base import WindowReader
    from opsloop.store.ports import EventLog
    from opsloop.store.sql import OpsStore

TRAINED_EVENTS = 200


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


def label_contract(store: OpsStore, model: str, task: str) -> LabelContract:
    """The deployed version's target contract, else the newest trained version's, else
    the task alone."""
    deployment = store.find_deployment(model)
    version = deployment.version if deployment is not None else None
    return _contract_from_events(store, model, task, version)


def _contract_from_events(
    events: EventLog, model: str, task: str, version: str | None
) -> LabelContract:
    trained = events.list_events(model, kinds=["trained"], limit=TRAINED_EVENTS)
    return contract_from_events(trained, task, version)


def store_labels(
    source: Path | str | pd.DataFrame,
    *,
    config: ProjectConfig,
    store: OpsStore,
    engine: WindowReader,
    labels_root: Path,
    part_name: str,
    skip_invalid: bool = False,
) -> LabelsAdded:
    """Validate and store one label file; raises `InvalidInputError` (nothing stored) when
    it cannot be read, lacks a column or has an invalid row (unless `skip_invalid`)."""
    from opsloop.engines.labels import ingest_labels

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
