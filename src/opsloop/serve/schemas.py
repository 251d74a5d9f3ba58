"""Pydantic models of the server's bodies, built over the served version's feature specs.

The prediction routes decode their bodies by hand (serve/inputs.py: no pydantic validation
per request); these models exist to *describe* them: `create_model` turns each `FeatureSpec`
into a typed field (number within ±1e308, string or boolean, `| None` when nullable), and
the request and answer bodies of `/predict`, OIP v2 `/infer` and `/invocations` are models
over those fields. serve/openapi.py writes their JSON Schemas into `/openapi.json`.

The schemas say exactly what the parser checks, no more: a body the schema rejects gets a
4xx. What pydantic cannot say (an OIP tensor name that is *not* a feature, "every feature
appears among the inputs / columns", "exactly one of" the MLflow forms) is added with
`json_schema_extra`; what JSON Schema cannot say at all (a tensor's `shape` against its
`data`, equal row counts) is checked by the parser and answered with a 422.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema, create_model

from opsloop.data.features import FeatureSpec
from opsloop.serve.inputs import NUMBER_LIMIT, NUMERIC_TYPES, OIP_TYPES

JsonSchema = dict[str, Any]

# ---- errors (every route) ------------------------------------------------------------------


class ErrorDetail(BaseModel):
    field: str = Field(
        description="where: a feature (`x`, `x[3]` for row 3), `records`, `inputs[0].shape`, …"
    )
    expected: str = Field(description="what the server takes there")
    got: str = Field(description="what came (a short repr)")


class ErrorBody(BaseModel):
    """Every error answer (4xx, 5xx) of every route: the message, the error's type, what was
    expected, what came, how to fix it, and one entry per field at fault."""

    error: str = Field(description="what went wrong, in one sentence")
    type: str = Field(description="the error's class: RequestError, NotFoundError, StateError, …")
    expected: str | None = Field(description="what was expected (null: not one thing)")
    got: str | None = Field(description="what came instead")
    fix: str | None = Field(description="how to fix it, when the server knows")
    details: list[ErrorDetail] = Field(description="one entry per field at fault (may be empty)")


# ---- one feature value -----------------------------------------------------------------------

_KIND_DATATYPES = {"numeric": sorted(NUMERIC_TYPES), "categorical": ["BYTES"], "boolean": ["BOOL"]}
_IGNORED = "accepted and ignored"
Number = Annotated[float, Field(ge=-NUMBER_LIMIT, le=NUMBER_LIMIT)]  # finite: 1e999 is inf


def value_type(spec: FeatureSpec) -> Any:
    """The type of one value of `spec`: its JSON type, `None` too if it is nullable."""
    kind: Any = {"numeric": Number, "categorical": str, "boolean": bool}[spec.kind]
    return kind | None if spec.nullable else kind


def _value_doc(spec: FeatureSpec) -> dict[str, Any]:
    text = f"{spec.kind} ({spec.dtype})" + ("; null allowed" if spec.nullable else "")
    doc: dict[str, Any] = {}
    if spec.kind == "categorical" and spec.categories:
        shown = ", ".join(spec.categories[:20]) + (", …" if len(spec.categories) > 20 else "")
        text += f"; seen in training: {shown} (others are passed to the model as they are)"
        doc["examples"] = list(spec.categories[:5])
    return {"description": text, **doc}


def _id_field(id_column: str) -> tuple[Any, Any]:
    text = (
        f"`{id_column}`: becomes the row's prediction id (any JSON value, as a string); "
        "absent or null: one is generated"
    )
    return Any, Field(default=None, alias=id_column, description=text)


def _open(description: str) -> ConfigDict:
    return ConfigDict(extra="allow", json_schema_extra={"description": description})


# ---- request bodies --------------------------------------------------------------------------


def record_model(features: Sequence[FeatureSpec] | None, id_column: str | None) -> type[BaseModel]:
    """One record: every feature by name; other keys are allowed and ignored."""
    if features is None:
        return create_model(
            "Record", __config__=_open("feature name → value (no version is served yet)")
        )
    fields: dict[str, Any] = {
        f"f{i}": (value_type(f), Field(alias=f.name, **_value_doc(f)))
        for i, f in enumerate(features)
    }
    if id_column and id_column not in {f.name for f in features}:
        fields["row_id_"] = _id_field(id_column)
    return create_model(
        "Record",
        __config__=_open("one row: every feature by name; other keys are ignored"),
        **fields,
    )


def columns_model(features: Sequence[FeatureSpec] | None, id_column: str | None) -> type[BaseModel]:
    """Columns by name: a list of values each (or one value for one row), all equally long."""
    text = "feature name → list of values (or one value for one row); every column as long"
    if features is None:
        return create_model("Columns", __config__=_open(text))
    fields: dict[str, Any] = {}
    for i, f in enumerate(features):
        one = value_type(f)
        many: Any = Annotated[list[one], Field(min_length=1)]  # type: ignore[valid-type]
        fields[f"f{i}"] = (Union[many, one], Field(alias=f.name))  # noqa: UP007
    if id_column and id_column not in {f.name for f in features}:
        fields["row_id_"] = _id_field(id_column)
    return create_model("Columns", __config__=_open(text), **fields)


def _records(record: Any, description: str | None = None) -> Any:
    return Annotated[list[record], Field(min_length=1, description=description)]


def predict_request_model(record: type[BaseModel]) -> type[BaseModel]:
    """`{"records": [...]}` (other keys ignored) or a bare list of records."""
    wrapped = create_model(
        "RecordsBody",
        __config__=_open('`{"records": [...]}`; other keys are ignored'),
        records=(_records(record), ...),
    )
    bare = _records(record, "a bare list of records")

    class PredictRequest(RootModel[Union[wrapped, bare]]):  # type: ignore[valid-type]  # noqa: UP007
        pass

    return PredictRequest


_SHAPE = Annotated[
    Union[  # noqa: UP007
        tuple[Annotated[int, Field(ge=1)]],
        tuple[Annotated[int, Field(ge=1)], Literal[1]],
    ],
    Field(description="[rows] or [rows, 1]; `data` holds `rows` values"),
]


def _tensor(
    title: str, name: Any, datatypes: Sequence[str], item: Any, description: str
) -> type[BaseModel]:
    data: Any = Annotated[
        list[Union[item, list[item]]],  # noqa: UP007
        Field(min_length=1, description="row-major values: flat, or one list per row"),
    ]
    kinds: Any = Literal[tuple(datatypes)]
    return create_model(
        title,
        __config__=ConfigDict(json_schema_extra={"description": description}),
        name=(name, ...),
        shape=(_SHAPE, ...),
        datatype=(kinds, ...),
        data=(data, ...),
        parameters=(
            Any,
            Field(
                default=None,
                description="`binary_data_size`: the tensor is binary, after the JSON (header "
                "`Inference-Header-Content-Length`); without that header, ignored",
            ),
        ),
    )


def _contains_every(names: list[str], schema_of: Any) -> dict[str, Any]:
    return {"allOf": [{"contains": schema_of(n)} for n in names]} if names else {}


def inference_request_model(
    features: Sequence[FeatureSpec] | None, outputs: Sequence[str] | None = None
) -> type[BaseModel]:
    """OIP v2: one input tensor per feature, named after it, with a datatype of its kind;
    `outputs`: the names the served version answers (None: any of the three)."""
    names = [f.name for f in features or ()]
    tensors = [
        _tensor(
            f"FeatureTensor{i}",
            Literal[f.name],
            _KIND_DATATYPES[f.kind],
            value_type(f),
            f"feature `{f.name}`",
        )
        for i, f in enumerate(features or ())
    ]
    not_a_feature: Any = {"not": {"enum": names}} if names else {}
    other = _tensor(
        "OtherTensor",
        Annotated[str, Field(json_schema_extra=not_a_feature)],
        sorted(OIP_TYPES),
        Any,
        "an input that is not a feature (the id column, or ignored)",
    )
    tensor = Union[tuple([*tensors, other])]  # type: ignore[valid-type]  # noqa: UP007
    requested: Any = list[requested_output_model(outputs)] | None  # type: ignore[misc]
    named: Any = _contains_every(
        names,
        lambda n: {"type": "object", "required": ["name"], "properties": {"name": {"const": n}}},
    )
    inputs: Any = Annotated[
        list[tensor],  # type: ignore[valid-type]
        Field(
            min_length=1,
            description="one tensor per feature, each with as many rows",
            json_schema_extra=named,
        ),
    ]
    return create_model(
        "InferenceRequest",
        id=(
            Any,
            Field(
                default=None,
                description="echoed as the answer's `id` (as a string); absent: one is generated",
            ),
        ),
        parameters=(
            Any,
            Field(
                default=None,
                description="`binary_data_output: true` returns every output not listed in "
                "`outputs` as binary tensor data; other keys are ignored",
            ),
        ),
        inputs=(inputs, ...),
        outputs=(
            requested,
            Field(default=None, description="the outputs to return, in order; absent: all"),
        ),
    )


def requested_output_model(outputs: Sequence[str] | None) -> type[BaseModel]:
    names: Any = Literal[tuple(outputs or ("prediction", "score", "prediction_id"))]
    params = create_model(
        "RequestedOutputParameters",
        binary_data=(
            bool | None,
            Field(default=None, description="send this output as binary tensor data"),
        ),
    )
    optional: Any = params | None
    return create_model(
        "RequestedOutput",
        name=(names, ...),
        parameters=(optional, Field(default=None)),
    )


def _one_of(schema: dict[str, Any]) -> None:
    """Exactly one form: a body with two of them matches two branches and is refused."""
    schema["oneOf"] = schema.pop("anyOf")


def invocations_request_model(
    features: Sequence[FeatureSpec] | None, record: type[BaseModel], columns: type[BaseModel]
) -> type[BaseModel]:
    """MLflow's scoring protocol: exactly one of the four forms (`params` is ignored)."""
    names = [f.name for f in features or ()]
    every: Any = _contains_every(names, lambda n: {"const": n})
    columns_of: Any = Annotated[
        list[Any], Field(description="column names, every feature's", json_schema_extra=every)
    ]
    rows: Any = Annotated[
        list[list[Any]], Field(min_length=1, description="rows, each as long as `columns`")
    ]
    split = create_model(
        "DataframeSplit",
        columns=(columns_of, ...),
        data=(rows, ...),
        index=(Any, Field(default=None, description=_IGNORED)),
    )
    either: Any = Union[_records(record), columns]  # noqa: UP007
    forms: dict[str, Any] = {
        "dataframe_split": split,
        "dataframe_records": _records(record),
        "instances": either,
        "inputs": either,
    }
    variants = [
        create_model(  # type: ignore[call-overload]
            f"Invocations_{key}",
            **{key: (schema, ...)},
            params=(Any, Field(default=None, description=_IGNORED)),
        )
        for key, schema in forms.items()
    ]

    class InvocationsRequest(RootModel[Union[tuple(variants)]]):  # type: ignore[misc]  # noqa: UP007
        model_config = ConfigDict(json_schema_extra=_one_of)

    return InvocationsRequest


# ---- answers --------------------------------------------------------------------------------


def prediction_model(schema: JsonSchema) -> type[BaseModel]:
    """One prediction: a class label (one of the classes) or a number for regression; the
    schema comes from the model's classes (serve/openapi.py `prediction_schema`)."""

    class Prediction(RootModel[Annotated[Any, WithJsonSchema(schema)]]):
        pass

    return Prediction


Probability = Annotated[float, Field(ge=0, le=1, description="P(positive class)")]


def predict_response_model(
    prediction: type[BaseModel], score: Literal["binary", "none", "unknown"]
) -> type[BaseModel]:
    """`/predict`'s answer: one prediction per row, with its id and (binary) score."""
    score_type: Any = {
        "binary": Probability,
        "none": Annotated[None, Field(description="only binary classifiers score")],
        "unknown": Probability | None,
    }[score]
    row: Any = create_model(
        "PredictRow",
        prediction_id=(str, ...),
        prediction=(prediction, ...),
        score=(score_type, ...),
    )
    return create_model(
        "PredictResponse",
        __config__=ConfigDict(protected_namespaces=()),
        model_name=(str, ...),
        model_version=(str, ...),
        predictions=(_many(row), ...),
    )


def _many(item: Any) -> Any:
    return Annotated[list[item], Field(min_length=1)]


def invocations_response_model(prediction: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        "InvocationsResponse",
        predictions=(_many(prediction), ...),
    )


OipDatatype = Literal[
    "BOOL", "BYTES", "FP16", "FP32", "FP64", "INT16", "INT32", "INT64", "INT8",
    "UINT16", "UINT32", "UINT64", "UINT8",
]  # fmt: skip  # serve/inputs.OIP_TYPES (a test holds them equal)


class OutputTensor(BaseModel):
    name: Literal["prediction", "score", "prediction_id"]
    datatype: OipDatatype
    shape: list[int]
    data: list[Any] | None = Field(default=None, description="absent for a binary output")
    parameters: dict[str, Any] | None = Field(
        default=None, description="`binary_data_size` of a binary output (after the JSON)"
    )


class InferenceResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    id: str
    outputs: Annotated[list[OutputTensor], Field(min_length=1)]


class MetadataTensor(BaseModel):
    name: str
    datatype: OipDatatype
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class Ready(BaseModel):
    ready: Literal[True]


class ModelReady(BaseModel):
    name: str
    ready: Literal[True]
