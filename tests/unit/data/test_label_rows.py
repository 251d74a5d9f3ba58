"""The pandas-free label validator (`data/label_rows.py`, with `data/csv_columns.py` and
`engines/label_files.py` reading and writing the files) against the pandas one it stands in
for: every label test's inputs, as CSV and as Parquet files, validated both ways — equal
results, an equal stored file, and `None` (the pandas path) exactly where pandas raises or
a value's reading by pandas is not certain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from opsloop.data.csv_columns import NA_VALUES, read_csv_columns
from opsloop.data.label_rows import LabelColumn, ValidRows, validate_rows
from opsloop.data.labels import LabelContract, LabelValidationError, ValidLabels
from opsloop.engines.label_files import connect, read_parquet_columns, write_label_rows
from opsloop.engines.labels import ingest_labels

BINARY = LabelContract("binary_classification", (0, 1), version="3")
FLAGS = LabelContract("binary_classification", (False, True))
PETS = LabelContract("multiclass_classification", ("cat", "dog"))
YES_NO = LabelContract("binary_classification", ("no", "yes"))
REG = LabelContract("regression")
UNKNOWN = LabelContract("binary_classification")
FLOATS = LabelContract("binary_classification", (0.0, 1.0))

# (ids, labels, contract, skip_invalid): the inputs of tests/unit/data/test_labels.py, and
# the column types a file can hold (missing values, booleans, floats, numeric ids)
CASES: list[tuple[list[Any], list[Any], LabelContract, bool]] = [
    (["a", "b", "c", "d"], [1, "yes", 0, "no"], BINARY, False),
    ([f"i{k}" for k in range(10)], ["x"] * 10, BINARY, False),
    (["a", "b", "c", "d", "e", "f"], ["1", "0", True, 0.0, "false", " 1 "], BINARY, False),
    ([1, 2, 3], [1, "true", "False"], FLAGS, False),
    ([1, 2], ["cat", " dog"], PETS, False),
    ([1], ["Cat"], PETS, False),
    ([1], [1], YES_NO, False),
    ([1, 2, 3], ["1.5", 2, -3e3], REG, False),
    ([1, 2, 3, 4], ["abc", True, float("inf"), 4], REG, False),
    (["a", None, "c", "d"], [1, 0, None, 1], BINARY, False),
    (["a", "a", "b"], [1, "1", 0], BINARY, False),
    (["a", "a", "b"], [1, 0, 0], BINARY, False),
    ([7, "7"], [1, 1], BINARY, False),
    (["a", None, "c", "c", "d"], [1, 1, 0, 1, "maybe"], BINARY, True),
    (["a"], ["maybe"], BINARY, True),
    (["a", "b"], ["yes", "no"], UNKNOWN, False),
    (["a", "b", "c"], [1, 0, 1], BINARY, False),
    (["a", "b", "c"], [1, 0, None], BINARY, True),
    (["a", "b", "c"], [1.0, 0.0, 1.0], BINARY, False),
    (["a", "b", "c"], [1.0, 0.0, 1.0], FLOATS, False),
    (["a", "b", "c"], [True, False, True], BINARY, False),
    (["a", "b", "c"], [True, False, None], FLAGS, True),
    (["a", "b", "c"], ["TRUE", "false", "True"], FLAGS, False),
    ([1, 2, None], [1, 0, 1], BINARY, True),
    ([1.5, 2.0, 3.0], [1, 0, 1], BINARY, False),
    (["a", "b", "c"], [1, 0, 1], UNKNOWN, False),
    (["a", "b", "c"], [1.5, 0.25, None], UNKNOWN, True),
    (["a", "b", "c"], [True, False, True], UNKNOWN, False),
    (["a", "b", "c"], [0.5, -1e3, 7], REG, False),
    (["a", "b", "c"], ["1.5", "x", "2e3"], REG, True),
    (["a", "b", "c"], [True, False, True], REG, True),
    (["a", "b", "c", "a"], ["cat", "dog", "bird", "cat"], PETS, True),
    (["a", "b", "c", "a"], ["cat", "dog", "dog", "dog"], PETS, True),
]


# the valid files the light path leaves to pandas: " 1 " (a padded number pandas reads as
# 1, as a CSV field)
LEFT_TO_PANDAS = {"csv": {2}, "parquet": set()}


def as_text(value: Any) -> str:
    return "" if value is None else str(value)


def write_csv(path: Path, ids: list[Any], ys: list[Any]) -> Path:
    rows = "".join(f"{as_text(i)},{as_text(y)}\n" for i, y in zip(ids, ys, strict=True))
    path.write_text("id,y\n" + rows)
    return path


def write_parquet(path: Path, ids: list[Any], ys: list[Any]) -> Path | None:
    """The columns as Parquet, None where a column mixes types (Parquet cannot)."""
    try:
        pd.DataFrame({"id": ids, "y": ys}).to_parquet(path)
    except Exception:  # pyarrow refuses mixed object columns
        return None
    return path


def pandas_result(path: Path, contract: LabelContract, skip: bool) -> ValidLabels | None:
    try:
        return ingest_labels(
            path,
            path.parent / "pandas",
            id_column="id",
            target="y",
            contract=contract,
            skip_invalid=skip,
            part_name=path.stem + ".parquet",
        )
    except LabelValidationError:
        return None


def light_columns(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, LabelColumn] | None:
    if path.suffix == ".csv":
        found = read_csv_columns(path, ("id", "y"))
        return None if found is None else found.columns
    return read_parquet_columns(con, path, ("id", "y"))


DTYPES = {"BIGINT": "int64", "DOUBLE": "float64", "BOOLEAN": "bool", "VARCHAR": "str"}


def assert_same(rows: ValidRows, valid: ValidLabels) -> None:
    assert rows.ids == valid.frame["prediction_id"].tolist()
    assert rows.labels == valid.frame["label"].tolist()
    assert [type(v) for v in rows.labels] == [type(v) for v in valid.frame["label"].tolist()]
    assert DTYPES[rows.label_type] == str(valid.frame["label"].dtype)
    assert (rows.rejected, rows.duplicates) == (valid.rejected, valid.duplicates)
    assert rows.reasons == valid.reasons


def stored(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[list[Any], list[Any]]:
    """A stored label file's column types and rows (without the time it was added)."""
    source = f"read_parquet('{path}')"
    types = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    rows = con.execute(f"SELECT prediction_id, label FROM {source}").fetchall()
    return [(r[0], r[1]) for r in types], rows


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_the_light_validator_equals_the_pandas_one_on_every_label_case(
    tmp_path: Path, kind: str
) -> None:
    left: set[int] = set()
    con = connect()
    for n, (ids, ys, contract, skip) in enumerate(CASES):
        name = tmp_path / f"case{n}.{kind}"
        path = write_csv(name, ids, ys) if kind == "csv" else write_parquet(name, ids, ys)
        if path is None:
            continue
        valid = pandas_result(path, contract, skip)
        columns = light_columns(con, path)
        rows = (
            None
            if columns is None
            else validate_rows(columns["id"], columns["y"], contract, skip_invalid=skip)
        )
        if valid is None:
            assert rows is None, f"case {n}: pandas refuses the file, the light path not"
            continue
        if rows is None:
            left.add(n)
            continue
        assert_same(rows, valid)
        write_label_rows(con, rows, tmp_path / "light", path.stem + ".parquet")
        light, pandas = (
            tmp_path / where / (path.stem + ".parquet") for where in ("light", "pandas")
        )
        assert stored(con, light) == stored(con, pandas), f"case {n}"
    con.close()
    assert left == LEFT_TO_PANDAS[kind]


@pytest.mark.parametrize(
    "text",
    [
        "id,y\na, 1 \nb,0\n",  # pandas reads a padded integer as an integer
        "id,y\na,1_0\nb,2\n",  # Python reads 1_0 as 10, pandas as text
        "id,y\na,inf\nb,2\n",
        "id,y\na,99999999999999999999\nb,1\n",  # beyond int64
        "id,y\na,1\nb\n",  # a ragged row
        "id,id\na,1\n",  # a repeated header name
        "id,y\n",  # no rows
    ],
)
def test_files_pandas_must_judge_are_left_to_it(tmp_path: Path, text: str) -> None:
    path = tmp_path / "l.csv"
    path.write_text(text)
    assert read_csv_columns(path, ("id", "y")) is None


def test_csv_columns_are_typed_as_pandas_types_them(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text('\ufeffid,y,z,w\n1,tRUE,"1",1\n\n2,False,NA,true\n,true,3.5,\n')
    found = read_csv_columns(path, ("id", "y", "z", "w"))
    assert found is not None and found.header == ["id", "y", "z", "w"] and found.rows == 3
    frame = pd.read_csv(path)
    for name, column in found.columns.items():
        expected = frame[name].astype(object).where(frame[name].notna(), None).tolist()
        assert column.values == expected
        assert {"int": "int64", "float": "float64", "bool": "bool", "object": "object"}.get(
            column.kind, column.kind
        ) == str(frame[name].dtype)


def test_the_na_spellings_are_pandas_own() -> None:
    from pandas._libs.parsers import STR_NA_VALUES

    assert NA_VALUES == STR_NA_VALUES


def test_an_unreadable_or_foreign_file_is_left_to_pandas(tmp_path: Path) -> None:
    bad = tmp_path / "l.parquet"
    bad.write_bytes(b"not parquet")
    with connect() as con:
        assert read_parquet_columns(con, bad, ("id", "y")) is None
    pd.DataFrame({"id": ["a"], "y": pd.Series([1], dtype="int32")}).to_parquet(bad)
    with connect() as con:  # int32: pandas keeps the width, so it stores the file
        assert read_parquet_columns(con, bad, ("id", "y")) is None
