"""Data contracts with pandera: inferred on first training, stored with the model as YAML,
and checked on every later training frame.

The inferred contract is deliberately about *shape*, not distribution: required columns,
numeric/datetime types (coercible), nullability, and the target's allowed classes for
classification. Value ranges are left to monitoring — a drifted but valid frame must still
be trainable, or retraining could never fix drift.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import TYPE_CHECKING

from opsloop.errors import DataValidationError

if TYPE_CHECKING:
    import pandas as pd

_MAX_LISTED = 10


def pandera() -> ModuleType:
    """`pandera.pandas`, without PySpark's warning. Where PySpark is installed
    (`opsloop[spark]`), pandera tries `import pyspark.pandas` on import and again when it
    registers its checks; PySpark 4.x warns that it does not support pandas 3 and then fails
    to import (pandas 3 lacks what it needs) — about Spark's pandas API, which opsloop does
    not use. The filter is process-wide because the attempts come from inside pandera's
    calls, and is narrowed to that one message."""
    warnings.filterwarnings(
        "ignore", "PySpark does not yet fully support pandas", category=FutureWarning
    )
    import pandera.pandas

    return pandera.pandas


def infer_data_schema(df: pd.DataFrame, *, target: str, task: str) -> str:
    """Infer a pandera schema from a training frame and return it as YAML."""
    import pandas as pd

    pa = pandera()
    columns = {}
    for name in df.columns:
        series = df[name]
        checks = []
        if name == target and task != "regression":
            classes = sorted(series.dropna().unique().tolist())
            checks.append(pa.Check.isin(classes))
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        datetime_like = pd.api.types.is_datetime64_any_dtype(series)
        if numeric:
            dtype = "float64"
        elif datetime_like or pd.api.types.is_bool_dtype(series):
            dtype = str(series.dtype)
        else:
            dtype = None  # strings: pandas may hold them as str, string or object
        columns[name] = pa.Column(
            dtype,
            nullable=bool(series.isna().any()),
            checks=checks,
            required=True,
            coerce=dtype is not None,
        )
    schema = pa.DataFrameSchema(columns, strict=False, name="opsloop training data")
    return str(schema.to_yaml())


def validate_frame(schema_yaml: str, df: pd.DataFrame, *, what: str = "training data") -> None:
    """Check `df` against a stored schema; raise DataValidationError listing the failures."""
    pa = pandera()

    schema = pa.DataFrameSchema.from_yaml(schema_yaml)
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        problems = []
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            examples = group["failure_case"].dropna().astype(str).unique()[:3].tolist()
            col = "(frame)" if column is None or column != column else column
            label = str(check).replace("column_in_dataframe", "column is present")
            problems.append(f"{col}: {label} failed for {len(group)} row(s), e.g. {examples}")
        shown = problems[:_MAX_LISTED]
        more = f" (+{len(problems) - _MAX_LISTED} more)" if len(problems) > _MAX_LISTED else ""
        raise DataValidationError(
            f"{what} does not match the schema stored with the model: " + "; ".join(shown) + more,
            expected="the columns, types, nullability and classes of the first training data",
            fix="fix the data returned by load(), or retrain with `--reset-schema` if the "
            "change is intended",
        ) from None
