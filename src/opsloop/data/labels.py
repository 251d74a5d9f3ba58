"""Label values checked against the target: its type (the task) and, for classification,
the classes the model was trained on.

A label file is judged whole. Each row is valid or has one reason: a missing id, a missing
label, a value that is not one of the classes (classification) or not a finite number
(regression), or an id given twice with different labels. Rows repeating the same id and
the same label are kept once and counted as duplicates. Values are normalised to the
classes' own type when that is unambiguous: "1"/"0", 1.0/0.0 and booleans for 0/1 classes,
"true"/"false" and 1/0 for boolean classes, "3" for the integer class 3; a string class is
matched exactly (after trimming spaces), never by case.

By default any invalid row rejects the whole file (`LabelValidationError`, with the counts
per reason and a few examples); `skip_invalid` keeps the valid rows and counts the rest.

Which label wins: one file may not give one id two different labels (every copy is
rejected: the file is refused, or with `skip_invalid` those rows are left out); across
files the newest stored label of an id wins (the engine joins by `label_ts`, the time the
file was added). Stored rows written before validation existed can still hold anything:
`usable_labels` is what monitoring applies to them — rows that do not fit the target are
skipped and counted, never passed to a metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from opsloop.data.label_contract import (
    LabelContract,
    LabelValidationError,
    TrainedEvent,
    class_key,
    class_lookup,
    contract_from_events,
    is_bool,
    lower_bool_key,
)

# re-exported: callers that validate frames import everything from here
__all__ = [
    "LabelContract",
    "LabelValidationError",
    "TrainedEvent",
    "UsableLabels",
    "ValidLabels",
    "contract_from_events",
    "usable_labels",
    "validate_labels",
]

_EXAMPLES = 3


@dataclass(frozen=True)
class UsableLabels:
    """Stored labels as monitoring may use them: `labels` the usable ones (their original
    index) normalised to the target's type; `unusable` how many were not, with up to three
    `examples` of their values."""

    labels: pd.Series
    unusable: int
    examples: tuple[str, ...]


def usable_labels(labels: pd.Series, contract: LabelContract) -> UsableLabels:
    """Check stored (non-null) labels against `contract` without raising: what does not
    fit (e.g. "banana" for a 0/1 target, from a file stored before validation) is left out
    and counted."""
    plain = _plain_numbers(labels, contract)
    if plain is not None:
        return UsableLabels(plain, 0, ())
    values, fits = _normalise(labels, contract)
    fits = fits.reindex(labels.index, fill_value=False).astype(bool)
    bad = labels[~fits]
    examples = tuple(dict.fromkeys(repr(v) for v in bad.head(50)))[:_EXAMPLES]
    kept = _label_dtype(values[fits], labels[fits], contract) if fits.any() else labels[fits]
    return UsableLabels(kept, int((~fits).sum()), examples)


def _plain_numbers(labels: pd.Series, contract: LabelContract) -> pd.Series | None:
    """The common case at column speed (a monitored window's labels): numeric labels that
    are all classes of one numeric type — kept whole, in the classes' type, as the general
    path would keep them; None for anything else."""
    classes = contract.classes
    if contract.task == "regression" or not classes or len({type(c) for c in classes}) != 1:
        return None
    if is_bool(classes[0]) or not isinstance(classes[0], int | float | np.number):
        return None
    if not pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_bool_dtype(labels):
        return None
    if not labels.isin(list(classes)).all():
        return None
    return labels.astype(pd.Series(list(classes)).dtype)


@dataclass(frozen=True)
class ValidLabels:
    """The rows to store (`prediction_id` as string, `label` normalised) and what was left."""

    frame: pd.DataFrame
    rejected: int
    duplicates: int
    reasons: dict[str, int]


def _normalise(labels: pd.Series, contract: LabelContract) -> tuple[pd.Series, pd.Series]:
    """(normalised values as objects, mask of values that fit), for non-null labels."""
    if contract.task == "regression":
        if pd.api.types.is_bool_dtype(labels):
            numbers = pd.Series(np.nan, index=labels.index)
        elif pd.api.types.is_numeric_dtype(labels):
            numbers = labels.astype(float)
        else:
            plain = labels.astype(object)
            numbers = pd.to_numeric(plain.where(~plain.map(is_bool)), errors="coerce")
        numbers = numbers.astype(float)
        return numbers.astype(object), pd.Series(np.isfinite(numbers), index=labels.index)
    if contract.classes is None:
        return labels.astype(object), pd.Series(True, index=labels.index)
    values = labels.astype(object)
    # the common case at column speed: values already of the classes' own kind
    direct = _same_kind(labels, contract.classes) & labels.isin(list(contract.classes))
    rest = ~direct
    if rest.any():
        lookup = class_lookup(contract.classes)
        missing = object()
        mapped = values[rest].map(lambda v: lookup.get(lower_bool_key(class_key(v)), missing))
        values[rest] = mapped
        ok = direct.copy()
        ok[rest] = mapped.map(lambda v: v is not missing).astype(bool)
        return values.where(ok, None), ok
    return values, direct


def _same_kind(labels: pd.Series, classes: Sequence[Any]) -> pd.Series:
    """True where a value is of the classes' kind (numbers, strings or booleans), so that
    `isin` means the same as the class lookup."""
    kinds = {"bool" if is_bool(c) else "str" if isinstance(c, str) else "num" for c in classes}
    numbers = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
    if kinds == {"num"} and numbers:
        return pd.Series(True, index=labels.index)
    if kinds == {"str"} and pd.api.types.is_string_dtype(labels):
        return (labels.str.strip() == labels).fillna(False).astype(bool)
    return pd.Series(False, index=labels.index)


def _label_dtype(stored: pd.Series, original: pd.Series, contract: LabelContract) -> pd.Series:
    """The stored labels in the classes' (or the file's) own type."""
    if contract.task == "regression":
        return stored.astype(float)
    if contract.classes is not None:
        kinds = {type(c) for c in contract.classes}
        if len(kinds) == 1:
            return stored.astype(pd.Series(list(contract.classes)).dtype)
        return stored
    return stored.astype(original.dtype)


def validate_labels(
    frame: pd.DataFrame,
    contract: LabelContract,
    *,
    id_column: str,
    target: str,
    skip_invalid: bool = False,
) -> ValidLabels:
    """Check every row; raise `LabelValidationError` on any invalid row unless
    `skip_invalid` (then the valid rows are returned and the rest counted)."""
    ids, labels = frame[id_column], frame[target]
    reason = pd.Series("", index=frame.index, dtype=object)
    reason[ids.isna()] = "missing id"
    reason[(reason == "") & labels.isna()] = "missing label"
    present = reason == ""
    values, fits = _normalise(labels[present], contract)
    reason[fits[~fits].index] = "label not " + contract.describe()
    out = pd.DataFrame(
        {
            "prediction_id": ids.astype(object).where(ids.isna(), ids.astype(str)),
            "label": values.reindex(frame.index),
        },
        index=frame.index,
    )
    # the same id twice: kept once if the label agrees, rejected (every copy) if not
    valid = reason == ""
    distinct = out[valid].assign(key=out["label"][valid])
    per_id = distinct.groupby("prediction_id", sort=False)["key"].transform("nunique")
    reason[per_id[per_id > 1].index] = "id repeated with different labels"
    valid = reason == ""
    kept = out[valid].drop_duplicates("prediction_id")
    duplicates = int(valid.sum()) - len(kept)
    invalid = reason != ""
    counts = {str(k): int(v) for k, v in reason[invalid].value_counts(sort=False).items()}
    if invalid.any() and not skip_invalid:
        raise _error(frame, reason, counts, id_column, target, contract)
    if kept.empty:
        raise LabelValidationError(
            "the labels have no valid row",
            expected=f"rows with an id and a label that is {contract.describe()}",
            got=f"{len(frame)} rows, none valid ({_summary(counts)})",
            fix="check the file holds labels for this model",
        )
    kept = kept.assign(
        prediction_id=kept["prediction_id"].astype(str),
        label=_label_dtype(kept["label"], labels, contract),
    )
    return ValidLabels(
        frame=kept.reset_index(drop=True),
        rejected=int(invalid.sum()),
        duplicates=duplicates,
        reasons=counts,
    )


def _summary(counts: dict[Any, int]) -> str:
    return ", ".join(f"{n} × {why}" for why, n in counts.items())


def _error(
    frame: pd.DataFrame,
    reason: pd.Series,
    counts: dict[Any, int],
    id_column: str,
    target: str,
    contract: LabelContract,
) -> LabelValidationError:
    examples = []
    for why in counts:
        rows = frame[reason == why].head(_EXAMPLES)
        shown = ", ".join(
            f"row {int(i) + 1}: {id_column}={r[id_column]!r} {target}={r[target]!r}"
            if isinstance(i, int)
            else f"{id_column}={r[id_column]!r} {target}={r[target]!r}"
            for i, r in rows.iterrows()
        )
        examples.append(f"{why}: {shown}")
    total = int((reason != "").sum())
    return LabelValidationError(
        f"{total} of {len(frame)} label rows are invalid; nothing was stored",
        expected=f"every row with an id and a label that is {contract.describe()}, each id once",
        got=f"{_summary(counts)} (e.g. " + "; ".join(examples) + ")",
        fix="correct or remove those rows and add the file again "
        "(or pass --skip-invalid to store the valid rows and count the rest)",
    )
