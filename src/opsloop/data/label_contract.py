"""What a label must be (`LabelContract`, read from a version's `trained` event) and how a
value is matched to a class — shared by the pandas validator (`data/labels.py`) and the
pandas-free one `opsloop labels add` uses (`data/label_rows.py`), so the two cannot drift.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from opsloop.errors import InvalidInputError


class LabelValidationError(InvalidInputError):
    """A label file has rows whose id or value does not fit the target."""


@dataclass(frozen=True)
class LabelContract:
    """What a label must be: the task and, for classification, the known classes (None when
    no trained version recorded them: then only the type is checked)."""

    task: str
    classes: tuple[Any, ...] | None = None
    version: str | None = None

    def describe(self) -> str:
        if self.task == "regression":
            return "a finite number (regression)"
        if self.classes is None and self.version is not None:
            return f"any non-empty value (version {self.version} recorded no classes: retrain)"
        if self.classes is None:
            return "any non-empty value (no trained version recorded the classes)"
        where = f" of version {self.version}" if self.version is not None else ""
        return f"one of the classes{where} {list(self.classes)}"


class TrainedEvent(Protocol):
    """What `contract_from_events` reads of a `trained` event (the store's `Event`)."""

    @property
    def version(self) -> str | None: ...

    @property
    def evidence(self) -> Mapping[str, Any]: ...


def contract_from_events(
    trained: Sequence[TrainedEvent], task: str, version: str | None
) -> LabelContract:
    """The contract recorded in `version`'s `trained` event (`trained`: oldest first), else
    the newest trained version's, else the task alone."""
    newest_first = [e for e in reversed(trained) if e.version is not None]
    chosen = next(
        (e for e in newest_first if e.version == version), newest_first[0] if newest_first else None
    )
    if chosen is None:
        return LabelContract(task)
    recorded = chosen.evidence.get("target")
    if not isinstance(recorded, Mapping) or recorded.get("classes") is None:
        return LabelContract(task, version=chosen.version)
    return LabelContract(task, tuple(recorded["classes"]), version=chosen.version)


def class_key(value: Any) -> Hashable:
    """A comparison key: numbers by value (1 == 1.0 == "1"), booleans apart, strings
    trimmed."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return ("bool", bool(value))
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return ("str", text)
        return ("num", number) if math.isfinite(number) else ("str", text)
    try:
        return ("num", float(value))
    except (TypeError, ValueError):
        return ("str", str(value))


def class_lookup(classes: Sequence[Any]) -> dict[Hashable, Any]:
    """Key → class, with the unambiguous aliases of 0/1 and boolean classes."""
    lookup: dict[Hashable, Any] = {}
    for c in classes:
        lookup.setdefault(lower_bool_key(class_key(c)), c)
    keys = set(lookup)
    if keys <= {("num", 0.0), ("num", 1.0)}:
        aliases: dict[Hashable, float] = {("bool", False): 0.0, ("bool", True): 1.0}
        aliases |= {("str", "false"): 0.0, ("str", "true"): 1.0}
        for alias, number in aliases.items():
            if ("num", number) in lookup:
                lookup.setdefault(alias, lookup[("num", number)])
    elif keys <= {("bool", False), ("bool", True)}:
        for number, flag in ((0.0, False), (1.0, True)):
            if ("bool", flag) in lookup:
                lookup.setdefault(("num", number), lookup[("bool", flag)])
                lookup.setdefault(("str", str(flag).lower()), lookup[("bool", flag)])
    return lookup


def lower_bool_key(key: Hashable) -> Hashable:
    """ "True"/"TRUE" as "true" (the spelling of booleans varies; other strings do not)."""
    if isinstance(key, tuple) and key[0] == "str" and str(key[1]).lower() in ("true", "false"):
        return ("str", str(key[1]).lower())
    return key


def is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"
