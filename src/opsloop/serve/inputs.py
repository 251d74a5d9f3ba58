"""Request decoding and validation against the model's feature specs.

Every problem in a request is collected (up to `MAX_DETAILS`) and reported at once with
the field, what was expected and what came; nothing here raises anything but
`RequestError` (serve/errors.py), which the app turns into a 4xx JSON answer.

Parsers return a `ModelInput` (serve/rows.py). For all-numeric models the common case —
every value a JSON number, all finite — is checked in one pass over the values and becomes
one float matrix without building a DataFrame; anything else takes the per-value path,
which gives the same answer or the field-level error.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from opsloop.data.features import FeatureSpec
from opsloop.serve import fastjson
from opsloop.serve.errors import RequestError
from opsloop.serve.rows import NO_EVENT_TIME, ModelInput

if TYPE_CHECKING:
    from opsloop.registry.base import LoadedModel

MAX_DETAILS = 20
NUMERIC_TYPES = frozenset(
    {
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "UINT8",
        "UINT16",
        "UINT32",
        "UINT64",
        "FP16",
        "FP32",
        "FP64",
    }
)
OIP_TYPES = NUMERIC_TYPES | {"BOOL", "BYTES"}
NUMBER_LIMIT = 1e308  # a numeric feature's value is within ±NUMBER_LIMIT
_INT_LIMIT = 10**308  # the same bound as the exact decimal JSON Schema compares integers with


def _detail(field: str, expected: str, got: Any) -> dict[str, Any]:
    text = repr(got)
    return {
        "field": field,
        "expected": expected,
        "got": text if len(text) <= 80 else text[:77] + "...",
    }


def decode_json(body: bytes) -> Any:
    if not body:
        raise RequestError(400, "the request body is empty; send a JSON object")
    try:
        return fastjson.loads(body)
    except (UnicodeDecodeError, fastjson.JSONDecodeError) as exc:
        raise RequestError(400, f"the request body is not valid JSON: {exc}") from None


def _expected(spec: FeatureSpec) -> str:
    base = {
        "numeric": "a number within ±1e308",
        "categorical": "a string",
        "boolean": "true or false",
    }[spec.kind]
    return base + (" or null" if spec.nullable else "")


def _check_value(spec: FeatureSpec, value: Any) -> bool:
    if value is None:
        return spec.nullable
    if spec.kind == "numeric":
        # JSON can smuggle NaN/Infinity (1e999 parses as inf) and integers past float64.
        # Bounded by ±1e308 as the OpenAPI schema says: floats compared as floats, ints
        # exactly (as JSON Schema validators do); NaN fails every comparison.
        if isinstance(value, float):
            return -NUMBER_LIMIT <= value <= NUMBER_LIMIT
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and -_INT_LIMIT <= value <= _INT_LIMIT
        )
    if spec.kind == "categorical":
        return isinstance(value, str)
    return isinstance(value, bool)


_NUMBER_TYPES = frozenset({int, float})


def _numeric_matrix(values: Sequence[Sequence[Any]], n_values: int) -> np.ndarray | None:
    """`values` (lists of equal length) as a float matrix if every value is a JSON number
    within ±NUMBER_LIMIT; None means "check value by value" (the slow path decides)."""
    if not set(map(type, itertools.chain.from_iterable(values))) <= _NUMBER_TYPES:
        return None  # bool, None, str, ...: bool is not an int here (type, not isinstance)
    try:
        matrix = np.array(values, dtype=np.float64)
    except (OverflowError, ValueError):
        return None
    # strictly inside ±NUMBER_LIMIT (NaN fails the comparison): an integer just past the
    # bound rounds to the bound itself as a float, so the exact check is the slow path's
    if matrix.size != n_values or not (np.abs(matrix) < NUMBER_LIMIT).all():
        return None
    return matrix


def all_numeric(features: Sequence[FeatureSpec]) -> bool:
    return all(f.kind == "numeric" for f in features)


def build_input(
    columns: Mapping[str, Sequence[Any]], features: Sequence[FeatureSpec], n: int, where: str
) -> ModelInput:
    """Validate per-feature columns of length n and build the model's input."""
    if all_numeric(features) and all(f.name in columns for f in features):
        cols = [columns[f.name] for f in features]
        if all(len(c) == n for c in cols):
            matrix = _numeric_matrix(cols, n * len(cols))
            if matrix is not None:
                return ModelInput(features, n, matrix=np.ascontiguousarray(matrix.T))
    details: list[dict[str, Any]] = []
    data: dict[str, Any] = {}
    for spec in features:
        if spec.name not in columns:
            details.append(_detail(spec.name, f"{_expected(spec)} ({where})", "missing"))
            continue
        values = columns[spec.name]
        before = len(details)
        for i, value in enumerate(values):
            if not _check_value(spec, value):
                details.append(
                    _detail(f"{spec.name}[{i}]" if n > 1 else spec.name, _expected(spec), value)
                )
                if len(details) >= MAX_DETAILS:
                    break
        if len(details) >= MAX_DETAILS:
            break
        if len(details) > before:
            continue
        if spec.kind == "numeric":
            data[spec.name] = np.asarray([np.nan if v is None else v for v in values], dtype=float)
        else:
            column = np.empty(n, dtype=object)  # no pandas object per request
            column[:] = list(values)
            data[spec.name] = column
    if details:
        fields = sorted({d["field"].split("[")[0] for d in details})
        raise RequestError(422, f"invalid input for feature(s) {', '.join(fields)}", details)
    if all_numeric(features):
        return ModelInput(
            features,
            n,
            matrix=np.column_stack([data[f.name] for f in features]).reshape(n, len(features)),
        )
    return ModelInput(features, n, columns=data)


def prediction_ids(values: Sequence[Any] | None, n: int) -> list[str]:
    if values is None:
        return [uuid.uuid4().hex for _ in range(n)]
    return [uuid.uuid4().hex if v is None else str(v) for v in values]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_EPOCH_MIN, _EPOCH_MAX = -62_135_596_800, 253_402_300_799  # years 1 to 9999, in seconds
_TIME_EXPECTED = "an ISO-8601 time (e.g. 2024-03-01T12:00:00Z) or epoch seconds, or null"


def _event_us(value: Any) -> int | None:
    """A time value as epoch microseconds (UTC; naive ISO times are UTC), None if invalid."""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (when - _EPOCH) // _MICROSECOND
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not _EPOCH_MIN <= value <= _EPOCH_MAX:  # NaN fails too
        return None
    return value * 1_000_000 if isinstance(value, int) else round(value * 1_000_000)


def event_times(values: Sequence[Any] | None, time_column: str, n: int) -> np.ndarray | None:
    """The rows' event times (`ModelInput.event_us`) from their `time_column` values; None
    when no row has one. A value that is not a time is the caller's 422, naming the field —
    nothing unparseable reaches the prediction log."""
    if values is None or all(v is None for v in values):
        return None
    out = [NO_EVENT_TIME] * n  # a list, not an array, until the end: single rows are common
    details = []
    for i, value in enumerate(values):
        if value is None:
            continue
        us = _event_us(value)
        if us is None:
            field = time_column if n == 1 else f"{time_column}[{i}]"
            details.append(_detail(field, _TIME_EXPECTED, value))
            if len(details) >= MAX_DETAILS:
                break
            continue
        out[i] = us
    if details:
        raise RequestError(422, f"invalid event time in {time_column!r} (the time_column)", details)
    return np.array(out, dtype=np.int64)


def with_event_times(
    rows: ModelInput, values: Sequence[Any] | None, time_column: str | None
) -> ModelInput:
    """`rows` carrying the event times of `values` (the time column's values, if sent)."""
    if not time_column:
        return rows
    events = event_times(values, time_column, rows.n)
    if events is None:
        return rows
    return ModelInput(rows.features, rows.n, rows.matrix, rows.columns, events)


def parse_records(
    payload: Any,
    features: Sequence[FeatureSpec],
    id_column: str | None,
    time_column: str | None = None,
) -> tuple[ModelInput, list[str]]:
    """`{"records": [{...}, ...]}` or a bare list of records."""
    records = payload.get("records") if isinstance(payload, dict) else payload
    if not isinstance(records, list) or not records:
        raise RequestError(
            422,
            'expected {"records": [{feature: value, ...}, ...]} with at least one record',
            [_detail("records", "a non-empty list", type(records).__name__)],
        )
    bad = [i for i, r in enumerate(records) if not isinstance(r, dict)]
    if bad:
        raise RequestError(
            422,
            "every record must be a JSON object",
            [_detail(f"records[{i}]", "an object", records[i]) for i in bad[:20]],
        )
    n = len(records)
    ids = [r.get(id_column) for r in records] if id_column else None
    times = [r.get(time_column) for r in records] if time_column else None
    if all_numeric(features):
        names = [f.name for f in features]
        try:
            rows = [[r[name] for name in names] for r in records]
        except KeyError:
            rows = None  # a feature is missing: the per-feature path names it
        matrix = None if rows is None else _numeric_matrix(rows, n * len(names))
        if matrix is not None:
            rows_in = with_event_times(ModelInput(features, n, matrix=matrix), times, time_column)
            return rows_in, prediction_ids(ids, n)
    columns: dict[str, list[Any]] = {}
    details = []
    for spec in features:
        missing = [i for i, r in enumerate(records) if spec.name not in r]
        if missing:
            details.append(
                _detail(
                    spec.name if n == 1 else f"{spec.name}[{missing[0]}]",
                    _expected(spec),
                    "missing",
                )
            )
            continue
        columns[spec.name] = [r[spec.name] for r in records]
    if details:
        raise RequestError(
            422,
            "records lack feature(s) " + ", ".join(d["field"].split("[")[0] for d in details),
            details,
        )
    rows_in = build_input(columns, features, n, "in every record")
    return with_event_times(rows_in, times, time_column), prediction_ids(ids, n)


def _flatten(data: list[Any]) -> list[Any]:
    """Row-major values, flat or one list per row (`[[v], [v]]` for shape [n, 1])."""
    if not any(isinstance(item, list) for item in data):
        return data
    out: list[Any] = []
    for item in data:
        if isinstance(item, list):
            out.extend(item)
        else:
            out.append(item)
    return out


def parse_oip(
    payload: Any,
    features: Sequence[FeatureSpec],
    id_column: str | None,
    time_column: str | None = None,
) -> tuple[ModelInput, list[str], str]:
    """An Open Inference Protocol v2 request with one input per feature."""
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("inputs"), list)
        or not payload["inputs"]
    ):
        got = payload.get("inputs") if isinstance(payload, dict) else payload
        raise RequestError(
            422,
            'expected an inference request {"inputs": [{"name", '
            '"shape", "datatype", "data"}, ...]}',
            [_detail("inputs", "a non-empty list of tensors", got)],
        )
    specs = {f.name: f for f in features}
    columns: dict[str, list[Any]] = {}
    details: list[dict[str, Any]] = []
    sizes: set[int] = set()
    for k, item in enumerate(payload["inputs"]):
        if not isinstance(item, dict):
            details.append(_detail(f"inputs[{k}]", "an object", item))
            continue
        name, shape, dtype = item.get("name"), item.get("shape"), item.get("datatype")
        where = f"inputs[{k}]" if not isinstance(name, str) else name
        if not isinstance(name, str):
            details.append(_detail(f"{where}.name", "a feature name", name))
            continue
        if not (
            isinstance(shape, list)
            and 1 <= len(shape) <= 2
            and all(isinstance(s, int) and not isinstance(s, bool) for s in shape)
            and shape[0] >= 1
            and shape[1:] in ([], [1])
        ):
            details.append(_detail(f"{where}.shape", "[n] or [n, 1] with n ≥ 1 rows", shape))
            continue
        if not isinstance(dtype, str) or dtype not in OIP_TYPES:
            details.append(_detail(f"{where}.datatype", "an OIP v2 datatype", dtype))
            continue
        spec = specs.get(name)
        if spec is not None:
            want = {"numeric": NUMERIC_TYPES, "categorical": {"BYTES"}, "boolean": {"BOOL"}}[
                spec.kind
            ]
            if dtype not in want:
                details.append(
                    _detail(
                        f"{name}.datatype",
                        " or ".join(sorted(want)) if len(want) < 3 else "a numeric datatype",
                        dtype,
                    )
                )
                continue
        if not isinstance(item.get("data"), list):
            details.append(
                _detail(f"{where}.data", "a list of values", item.get("data", "missing"))
            )
            continue
        data = _flatten(item["data"])
        if len(data) != shape[0]:
            details.append(
                _detail(f"{name}.data", f"{shape[0]} values (shape {shape})", f"{len(data)} values")
            )
            continue
        sizes.add(shape[0])
        columns[name] = data
    if len(sizes) > 1:
        details.append(_detail("inputs", "the same number of rows in every input", sorted(sizes)))
    if details:
        raise RequestError(422, "invalid inference request", details)
    n = sizes.pop() if sizes else 0
    if n == 0:
        raise RequestError(
            422,
            "the inference request has no rows",
            [_detail("inputs", "at least one row in each input", 0)],
        )
    rows = build_input(columns, features, n, "as an input named after it")
    rows = with_event_times(rows, columns.get(time_column) if time_column else None, time_column)
    ids = columns.get(id_column) if id_column else None
    request_id = payload.get("id")
    return rows, prediction_ids(ids, n), str(request_id) if request_id else uuid.uuid4().hex


def oip_datatype(values: np.ndarray) -> str:
    if values.dtype.kind == "b":
        return "BOOL"
    if values.dtype.kind in "iu":
        return "INT64"
    if values.dtype.kind == "f":
        return "FP64"
    return "BYTES"


def prediction_datatype(model: LoadedModel) -> str:
    """The `prediction` output's datatype: FP64 for regression, else that of the fitted
    classes (INT64 for integer labels, BOOL, FP64, BYTES for strings)."""
    if model.task == "regression":
        return "FP64"
    classes = getattr(model.estimator, "classes_", None)
    return "BYTES" if classes is None else oip_datatype(np.asarray(classes))


def output_names(model: LoadedModel) -> tuple[str, ...]:
    """The outputs `/infer` answers for `model`, in order (a score for binary classifiers)."""
    if model.task == "binary_classification" and hasattr(model.estimator, "predict_proba"):
        return ("prediction", "score", "prediction_id")
    return ("prediction", "prediction_id")


_INVOCATION_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def _columns_from_mapping(data: Mapping[str, Any], where: str) -> tuple[dict[str, list[Any]], int]:
    columns = {str(k): (list(v) if isinstance(v, list) else [v]) for k, v in data.items()}
    sizes = {len(v) for v in columns.values()}
    if len(sizes) > 1:
        raise RequestError(
            422,
            f"{where}: every column needs the same number of values",
            [_detail(where, "equal-length columns", sorted(sizes))],
        )
    return columns, sizes.pop() if sizes else 0


def parse_invocations(
    payload: Any,
    features: Sequence[FeatureSpec],
    id_column: str | None,
    time_column: str | None = None,
) -> tuple[ModelInput, list[str]]:
    """MLflow's scoring protocol (`POST /invocations`): exactly one of `dataframe_split`,
    `dataframe_records`, `instances` or `inputs` (records or columns)."""
    keys = [k for k in _INVOCATION_KEYS if isinstance(payload, dict) and k in payload]
    if len(keys) != 1:
        got = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise RequestError(
            422,
            "expected a JSON object with exactly one of "
            + ", ".join(_INVOCATION_KEYS)
            + " (MLflow's scoring protocol)",
            [_detail("body", "one of " + ", ".join(_INVOCATION_KEYS), got)],
        )
    key = keys[0]
    data = payload[key]
    if key == "dataframe_split":
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("columns"), list)
            or not isinstance(data.get("data"), list)
        ):
            raise RequestError(
                422,
                'dataframe_split needs {"columns": [...], "data": [[...], ...]}',
                [_detail(key, "columns and data lists", data)],
            )
        cols, rows = data["columns"], data["data"]
        bad = [i for i, r in enumerate(rows) if not isinstance(r, list) or len(r) != len(cols)]
        if bad:
            raise RequestError(
                422,
                f"dataframe_split: every row needs {len(cols)} values",
                [
                    _detail(f"data[{i}]", f"a list of {len(cols)} values", rows[i])
                    for i in bad[:MAX_DETAILS]
                ],
            )
        position = {str(c): i for i, c in enumerate(cols)}
        if rows and all(f.name in position for f in features):
            # Straight to columns; the record path below only words the errors of the
            # rarer requests that lack a feature.
            wanted = [f.name for f in features]
            wanted += [c for c in (id_column, time_column) if c and c in position]
            columns = {name: [r[position[name]] for r in rows] for name in wanted}
            rows_in = build_input(columns, features, len(rows), "as a column of dataframe_split")
            return (
                with_event_times(rows_in, _column(columns, time_column), time_column),
                prediction_ids(_column(columns, id_column), len(rows)),
            )
        records = [dict(zip(map(str, cols), r, strict=True)) for r in rows]
        return parse_records({"records": records}, features, id_column, time_column)
    if isinstance(data, list):
        return parse_records({"records": data}, features, id_column, time_column)
    if isinstance(data, dict) and key in ("instances", "inputs"):
        columns, n = _columns_from_mapping(data, key)
        if n == 0:
            raise RequestError(422, f"{key} has no rows", [_detail(key, "at least one row", 0)])
        rows_in = build_input(columns, features, n, f"as a column of {key}")
        rows_in = with_event_times(rows_in, _column(columns, time_column), time_column)
        return rows_in, prediction_ids(_column(columns, id_column), n)
    raise RequestError(
        422,
        f"{key} must be a list of records"
        + (" or an object of columns" if key in ("instances", "inputs") else ""),
        [_detail(key, "a list", type(data).__name__)],
    )


def _column(columns: Mapping[str, Sequence[Any]], name: str | None) -> Sequence[Any] | None:
    return columns.get(name) if name else None


def parse_csv(
    body: bytes,
    features: Sequence[FeatureSpec],
    id_column: str | None,
    time_column: str | None = None,
) -> tuple[ModelInput, list[str]]:
    """`text/csv` bodies, as `mlflow models serve` accepts them (a header row, then rows)."""
    import io

    try:
        table = pd.read_csv(io.BytesIO(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"the CSV body could not be read: {exc}") from None
    if table.empty:
        raise RequestError(422, "the CSV body has no rows")
    columns = {
        str(c): [None if isinstance(v, float) and math.isnan(v) else v for v in table[c].tolist()]
        for c in table.columns
    }
    rows = build_input(columns, features, len(table), "as a CSV column")
    rows = with_event_times(rows, _column(columns, time_column), time_column)
    return rows, prediction_ids(_column(columns, id_column), len(table))
