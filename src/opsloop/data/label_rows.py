"""The label validator of `data/labels.py` in pure Python, over the two columns of a label
file — what `opsloop labels add` uses so that it imports neither pandas nor NumPy.

It decides exactly as the pandas validator does on the columns pandas would have read
(`LabelColumn.kind`: the dtype pandas gives the column), and gives up (`None`) wherever
matching it would need pandas' own judgement: then the caller runs the pandas validator,
which also writes every error message (a file with an invalid row, unless `skip_invalid`,
or with no valid row). `tests/unit/data/test_label_rows.py` runs both on every label test's
inputs, as files, and holds them equal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from opsloop.data.label_contract import (
    LabelContract,
    class_key,
    class_lookup,
    is_bool,
    lower_bool_key,
)

# the dtype pandas gives a column: int64, float64 (NaN for missing), bool, its string
# dtype, or object (here only booleans with missing values)
Kind = Literal["int", "float", "bool", "str", "object"]
# how the stored file's label column is typed (DuckDB's names)
LabelType = Literal["BIGINT", "DOUBLE", "BOOLEAN", "VARCHAR"]


# a decimal number as both pandas and Python read it
FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class Ambiguous(Exception):
    """A value whose reading by pandas is not certain here: the caller uses pandas."""


def number(text: str) -> float | None:
    """`text` as the number `pd.to_numeric` reads in it, None if it is none; `Ambiguous`
    where Python reads a finite number the plain grammar does not (``1_0``, other digits)."""
    if FLOAT.fullmatch(text):
        return float(text)
    try:
        value = float(text)
    except ValueError:
        return None
    if math.isfinite(value):
        raise Ambiguous(text)
    return value


@dataclass(frozen=True)
class LabelColumn:
    """One column as pandas would hold it: `values` with None for a missing value."""

    kind: Kind
    values: Sequence[Any]


@dataclass(frozen=True)
class ValidRows:
    """The rows to store (as `ValidLabels.frame`: ids as text, labels normalised and typed
    `label_type`) and what was left out."""

    ids: list[str]
    labels: list[Any]
    label_type: LabelType
    rejected: int
    duplicates: int
    reasons: dict[str, int]


def validate_rows(
    ids: LabelColumn,
    labels: LabelColumn,
    contract: LabelContract,
    *,
    skip_invalid: bool = False,
) -> ValidRows | None:
    """`validate_labels` on these columns, or None where only the pandas one can answer:
    an invalid row (unless `skip_invalid`), no valid row, or a type it cannot store."""
    label_type = _label_type(labels.kind, contract)
    if label_type is None:
        return None
    try:
        return _validate(ids, labels, contract, label_type, skip_invalid)
    except Ambiguous:
        return None


def _validate(
    ids: LabelColumn,
    labels: LabelColumn,
    contract: LabelContract,
    label_type: LabelType,
    skip_invalid: bool,
) -> ValidRows | None:
    normalise = _normaliser(labels.kind, contract)
    reasons: list[str] = []
    values: list[Any] = []
    for i, v in zip(ids.values, labels.values, strict=True):
        value: Any = None
        if i is None:
            why = "missing id"
        elif v is None:
            why = "missing label"
        else:
            fits, value = normalise(v)
            why = "" if fits else "label not " + contract.describe()
        reasons.append(why)
        values.append(value)
    texts = [None if i is None else str(i) for i in ids.values]
    # the same id twice: kept once if the label agrees, rejected (every copy) if not
    seen: dict[str, set[Any]] = {}
    for text, why, value in zip(texts, reasons, values, strict=True):
        if not why:
            assert text is not None
            seen.setdefault(text, set()).add(value)
    differing = {text for text, labelled in seen.items() if len(labelled) > 1}
    kept: dict[str, Any] = {}
    duplicates = 0
    for n, (text, value) in enumerate(zip(texts, values, strict=True)):
        if reasons[n]:
            continue
        assert text is not None
        if text in differing:
            reasons[n] = "id repeated with different labels"
        elif text in kept:
            duplicates += 1
        else:
            kept[text] = value
    counts: dict[str, int] = {}
    for why in reasons:
        if why:
            counts[why] = counts.get(why, 0) + 1
    if (counts and not skip_invalid) or not kept:
        return None  # the pandas validator raises, with its examples
    return ValidRows(
        ids=list(kept),
        labels=[_cast(v, label_type) for v in kept.values()],
        label_type=label_type,
        rejected=sum(counts.values()),
        duplicates=duplicates,
        reasons=counts,
    )


def _label_type(kind: Kind, contract: LabelContract) -> LabelType | None:
    """The stored label's type (`_label_dtype` of the pandas validator), or None when it
    would be an object column (classes of several types, or booleans with missing values
    kept as given)."""
    if contract.task == "regression":
        return "DOUBLE"
    if contract.classes is not None:
        types = {type(c) for c in contract.classes}
        if len(types) != 1:
            return None
        one = types.pop()
        if one is bool:
            return "BOOLEAN"
        if one is int:
            return "BIGINT" if all(-(2**63) <= c < 2**63 for c in contract.classes) else None
        if one is float:
            return "DOUBLE"
        return "VARCHAR" if one is str else None
    return _KIND_TYPES.get(kind)


_KIND_TYPES: dict[str, LabelType] = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "str": "VARCHAR",
}


def _cast(value: Any, label_type: LabelType) -> Any:
    if label_type == "BIGINT":
        return int(value)
    if label_type == "DOUBLE":
        return float(value)
    if label_type == "BOOLEAN":
        return bool(value)
    return value


def _normaliser(kind: Kind, contract: LabelContract) -> Any:
    """value → (fits, normalised value) for a present (non-missing) label."""
    if contract.task == "regression":
        return lambda v: _regression(v, kind)
    classes = contract.classes
    if classes is None:
        return lambda v: (True, v)
    members = set(classes)
    kinds = {"bool" if is_bool(c) else "str" if isinstance(c, str) else "num" for c in classes}
    # `_same_kind` of the pandas validator: a value of the classes' own kind is looked up
    # as it is (`isin`), anything else through the class keys
    if kinds == {"num"} and kind in ("int", "float"):

        def direct(v: Any) -> bool:
            return v in members

    elif kinds == {"str"} and kind == "str":

        def direct(v: Any) -> bool:
            return bool(v.strip() == v and v in members)

    else:

        def direct(v: Any) -> bool:
            return False

    lookup = class_lookup(classes)
    missing = object()

    def normalise(v: Any) -> tuple[bool, Any]:
        if direct(v):
            return True, v
        found = lookup.get(lower_bool_key(class_key(v)), missing)
        return (False, None) if found is missing else (True, found)

    return normalise


def _regression(value: Any, kind: Kind) -> tuple[bool, Any]:
    """A finite number: numbers as they are, text as `pd.to_numeric` reads it (`number`:
    `Ambiguous` where that is not certain), never a boolean."""
    if kind == "bool" or is_bool(value):
        return False, None
    if isinstance(value, str):
        parsed = number(value.strip())
        if parsed is None:
            return False, None
        value = parsed
    number_ = float(value)
    return (True, number_) if math.isfinite(number_) else (False, None)
