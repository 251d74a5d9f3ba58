"""The input of a batch prediction checked against the version's feature contract before a
row is scored: every bad column named at once (expected, got, how to fix), nothing written.

Types are DuckDB's (what `DESCRIBE` says of the input): a numeric feature takes any number
type, a categorical one text, a boolean one BOOLEAN; the id column any type (written as
text in the prediction log); the time column a timestamp or a date (read as UTC)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opsloop.data.features import FeatureSpec
from opsloop.data.sqltypes import NUMERIC_TYPES
from opsloop.errors import DataValidationError

_TEXT = ("VARCHAR", "ENUM")
_TIMES = ("TIMESTAMP", "DATE")


@dataclass(frozen=True)
class BadColumn:
    name: str
    expected: str
    got: str
    fix: str

    def line(self) -> str:
        return f"{self.name}: expected {self.expected}, got {self.got}; fix: {self.fix}"


def _accepts(kind: str, sql_type: str) -> bool:
    t = sql_type.upper()
    if kind == "numeric":
        return t.startswith(NUMERIC_TYPES)
    if kind == "boolean":
        return t == "BOOLEAN"
    return t.startswith(_TEXT)


def _wanted(spec: FeatureSpec) -> tuple[str, str]:
    """(what the column must be, the SQL type to cast to)."""
    if spec.kind == "numeric":
        return f"a number (trained as {spec.dtype})", "DOUBLE"
    if spec.kind == "boolean":
        return "BOOLEAN", "BOOLEAN"
    return f"text (trained as {spec.dtype}, {len(spec.categories)} categories)", "VARCHAR"


def bad_columns(
    columns: Mapping[str, str],
    features: Sequence[FeatureSpec],
    *,
    id_column: str,
    time_column: str,
) -> list[BadColumn]:
    """Each column of the input (name → DuckDB type) that does not fit the contract."""
    bad: list[BadColumn] = []
    if id_column not in columns:
        bad.append(
            BadColumn(
                id_column,
                "the id column (any type)",
                "no such column",
                f"select it, e.g. sql:SELECT key AS {id_column}, * FROM …",
            )
        )
    time_type = columns.get(time_column)
    if time_type is None:
        bad.append(
            BadColumn(
                time_column,
                "the time column (TIMESTAMP or DATE, UTC): each prediction's event time",
                "no such column",
                f"select the rows' event time, e.g. sql:SELECT *, now() AS {time_column} FROM …",
            )
        )
    elif not time_type.upper().startswith(_TIMES):
        bad.append(
            BadColumn(
                time_column,
                "TIMESTAMP or DATE (UTC)",
                time_type,
                f"cast it: sql:SELECT * REPLACE (CAST({time_column} AS TIMESTAMP) AS "
                f"{time_column}) FROM …",
            )
        )
    for spec in features:
        expected, cast = _wanted(spec)
        got = columns.get(spec.name)
        if got is None:
            bad.append(
                BadColumn(
                    spec.name,
                    expected,
                    "no such column",
                    "add it to the input, or score with a version trained without it",
                )
            )
        elif not _accepts(spec.kind, got):
            bad.append(
                BadColumn(
                    spec.name,
                    expected,
                    got,
                    f"cast it: sql:SELECT * REPLACE (CAST({spec.name} AS {cast}) AS "
                    f"{spec.name}) FROM …",
                )
            )
    return bad


def check_input(
    columns: Mapping[str, str],
    features: Sequence[FeatureSpec],
    *,
    id_column: str,
    time_column: str,
    version: str,
    label: str,
) -> None:
    """Raise one DataValidationError naming every bad column of `label`'s input."""
    bad = bad_columns(columns, features, id_column=id_column, time_column=time_column)
    if not bad:
        return
    raise DataValidationError(
        f"the input {label!r} does not match version {version}'s feature contract "
        f"({len(bad)} column(s)): " + "; ".join(b.line() for b in bad),
        expected=f"the id column, the time column and the features "
        f"{', '.join(f.name for f in features)}",
        got="columns " + ", ".join(f"{k} {v}" for k, v in list(columns.items())[:30]),
        fix="correct the column(s) above; nothing was scored or written",
    )
