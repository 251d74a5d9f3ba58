"""Columns of a small CSV file typed as `pandas.read_csv` (its C parser, default options)
would type them, without pandas: for `opsloop labels add` (`data/label_rows.py`).

The rules pandas applies to a column's fields: its NA spellings are missing; integers
become int64 (float64 when a value is missing); integers and decimals float64;
true/false in any case bool (object when a value is missing); anything else (also
booleans mixed with numbers) keeps every field as text. A field these rules cannot place
with certainty — padded with spaces, a number only Python reads (``1_0``), ``inf``, an
integer beyond int64 — makes the whole file `None` (ambiguous), and the caller reads it
with pandas. So do ragged rows, repeated or missing header names, and files larger than
one chunk of pandas' parser (its low-memory mode types each chunk apart).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsloop.data.label_rows import FLOAT, Ambiguous, Kind, LabelColumn

# pandas' default NA spellings (`pandas._libs.parsers.STR_NA_VALUES`; a test holds them
# equal)
NA_VALUES = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
# pandas' C parser reads the file in chunks of at least 2**20 / (2 × columns) rows and
# types each chunk apart: files within one chunk are typed as a whole
MAX_CELLS = 2**19
_BOOLS = ("true", "false")

_INT = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class CsvColumns:
    """The header (every column, in order) and the wanted columns typed."""

    header: list[str]
    columns: dict[str, LabelColumn]
    rows: int


def read_csv_columns(path: Path, wanted: tuple[str, ...]) -> CsvColumns | None:
    """The `wanted` columns of the CSV file at `path` as pandas would type them, or None
    when only pandas can say (see the module docstring), also for any file error."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or len(set(header)) != len(header):
                return None
            if any(name not in header for name in wanted):
                return None
            width = len(header)
            positions = [header.index(name) for name in wanted]
            fields: list[list[str]] = [[] for _ in wanted]
            rows = 0
            for row in reader:
                if not row:
                    continue  # a blank line (pandas skips them)
                if len(row) != width:
                    return None
                rows += 1
                if rows * width > MAX_CELLS:
                    return None
                for out, at in zip(fields, positions, strict=True):
                    out.append(row[at])
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if rows == 0:
        return None
    try:
        typed = {name: _column(texts) for name, texts in zip(wanted, fields, strict=True)}
    except Ambiguous:
        return None
    return CsvColumns(header, typed, rows)


def _column(texts: list[str]) -> LabelColumn:
    kinds: set[str] = set()
    parsed: list[Any] = []
    for text in texts:
        if text in NA_VALUES:
            kinds.add("na")
            parsed.append(None)
        elif _INT.fullmatch(text):
            value = int(text)
            if not -(2**63) <= value < 2**63:
                raise Ambiguous(text)
            kinds.add("int")
            parsed.append(value)
        elif FLOAT.fullmatch(text):
            kinds.add("float")
            parsed.append(float(text))
        elif text.lower() in _BOOLS:
            kinds.add("bool")
            parsed.append(text.lower() == "true")
        else:
            try:  # a number pandas may read where the grammar above does not
                float(text)
            except ValueError:
                pass
            else:
                raise Ambiguous(text)
            stripped = text.strip()
            if stripped != text and (stripped in NA_VALUES or stripped.lower() in _BOOLS):
                raise Ambiguous(text)
            kinds.add("text")
            parsed.append(text)
    kinds.discard("na")
    missing = any(v is None for v in parsed)
    if "text" in kinds or ("bool" in kinds and kinds != {"bool"}):
        # booleans mixed with numbers stay text too
        return LabelColumn("str", [None if t in NA_VALUES else t for t in texts])
    if "bool" in kinds:
        return LabelColumn("object" if missing else "bool", parsed)
    kind: Kind = "int" if kinds == {"int"} and not missing else "float"
    if kind == "float":
        parsed = [None if v is None else float(v) for v in parsed]
    return LabelColumn(kind, parsed)
