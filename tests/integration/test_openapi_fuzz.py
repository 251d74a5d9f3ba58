"""Schemathesis over the prediction server's own OpenAPI schema: every operation, with bodies
that fit the schema and bodies that do not, never gets a 5xx, and every answer fits the
schema (status, content type, body).

The server is the real app in process (ASGI), serving a real project trained here: a
scikit-learn pipeline over a nullable numeric, a nullable categorical and a boolean feature,
with the management API and a prediction log. Generation is derandomized and bounded, so
the run is the same every time and takes seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi

from opsloop.data.features import FeatureSpec
from opsloop.project import Project
from opsloop.serve import PredictionLogWriter, ServeContext, create_app
from tinyproject import tiny_frame, write_tiny_project

pytestmark = pytest.mark.slow

TOKEN = "s3cret"
PREDICTION_ROUTES = {
    "POST /predict",
    "POST /v2/models/{name}/infer",
    "POST /v2/models/{name}/versions/{version}/infer",
    "POST /invocations",
}
# Bodies of these can be schema-valid yet rejected for what JSON Schema cannot say (an OIP
# tensor's shape against its data, equally long columns), so only they may answer a valid
# body with a 422.
CROSS_CHECKED = {
    "POST /v2/models/{name}/infer",
    "POST /v2/models/{name}/versions/{version}/infer",
    "POST /invocations",
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

MODEL = """\
from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

DATA = Path(__file__).parent / "data"


def load(window):
    df = pd.concat([pd.read_parquet(p) for p in sorted(DATA.glob("*.parquet"))],
                   ignore_index=True)
    keep = (df["event_time"] >= window.start) & (df["event_time"] < window.end)
    return df[keep].sort_values("event_time").reset_index(drop=True)


def build():
    encode = ColumnTransformer([("num", SimpleImputer(strategy="median"), ["x1", "x2"]),
                                ("cat", OneHotEncoder(handle_unknown="ignore"), ["color"]),
                                ("flag", "passthrough", ["vip"])])
    return make_pipeline(encode, LogisticRegression(max_iter=500))
"""


def write_project(root: Path) -> Path:
    """The tiny project with x2 and color sometimes missing and a boolean `vip`."""
    write_tiny_project(root, approval="manual")
    (root / "model.py").write_text(MODEL)
    frame = tiny_frame(1500)
    rng = np.random.default_rng(1)
    frame["x2"] = frame["x2"].mask(rng.random(len(frame)) < 0.1)
    frame["color"] = frame["color"].astype(object).mask(rng.random(len(frame)) < 0.1, None)
    frame["vip"] = rng.random(len(frame)) < 0.3
    frame.to_parquet(root / "data" / "history.parquet", index=False)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    root = write_project(tmp_path_factory.mktemp("fuzz") / "tiny")
    p = Project(
        root,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="tester",
    )
    p.train()
    p.approve("1")
    p.train()  # version 2 waits for approval: the admin API has something to do
    return p


@pytest.fixture(scope="module")
def served(
    project: Project, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[schemathesis.BaseSchema]:
    """The app (its lifespan started by schemathesis' ASGI client) and its schema."""
    writer = PredictionLogWriter(tmp_path_factory.mktemp("log"), project.name, flush_interval=1.0)
    # no reload during the run: approvals change the store, the served model stays
    ctx = ServeContext(
        model_name=project.name,
        store=project.store,
        load_version=lambda v: project.registry.load(project.name, v),
        log_writer=writer,
        id_column=project.config.id_column,
        reload_interval=3600,
        runtime=project.runtime,
        admin_token=TOKEN,
    )
    app = create_app(ctx)
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        asgi.shutdown_lifespans()


@dataclass
class Outcomes:
    """Statuses seen per (operation, kind of data); kinds: coverage (schemathesis' boundary
    cases), positive and negative (generated to fit or break the schema), constructed."""

    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    unsatisfiable: set[str] = field(default_factory=set)  # no negative data possible

    def __str__(self) -> str:
        return "\n".join(
            f"{op} {kind} {status}: {n}" for (op, kind, status), n in sorted(self.statuses.items())
        )

    def count(self, label: str, kind: str, low: int, high: int) -> int:
        return sum(
            n
            for (op, k, status), n in self.statuses.items()
            if op == label and k == kind and low <= status < high
        )


def records_of(body: Any) -> list[dict[str, Any]]:
    return body["records"] if isinstance(body, dict) else body


def oip_body(
    records: list[dict[str, Any]], features: list[FeatureSpec], nested: bool
) -> dict[str, Any]:
    datatype = {"numeric": "FP64", "categorical": "BYTES", "boolean": "BOOL"}
    n = len(records)
    return {
        "id": "fuzz",
        "inputs": [
            {
                "name": f.name,
                "shape": [n, 1] if nested else [n],
                "datatype": datatype[f.kind],
                "data": [[r[f.name]] if nested else r[f.name] for r in records],
            }
            for f in features
        ],
    }


def invocations_body(
    records: list[dict[str, Any]], features: list[FeatureSpec], form: str
) -> dict[str, Any]:
    names = [f.name for f in features]
    if form == "dataframe_split":
        return {form: {"columns": names, "data": [[r[c] for c in names] for r in records]}}
    if form == "dataframe_records":
        return {form: records}
    return {form: {c: [r[c] for r in records] for c in names}}  # instances/inputs as columns


def constructed(
    schema: schemathesis.BaseSchema, operation: Any, features: list[FeatureSpec]
) -> st.SearchStrategy[schemathesis.Case] | None:
    """Valid bodies for the routes whose schema cannot say everything (shape against data,
    equally long columns): records generated from the schema, rearranged into that route's
    form. The server must answer each with a 200."""
    records = schema["/predict"]["POST"].as_strategy().map(lambda c: records_of(c.body))
    if "/infer" in operation.label:
        bodies = st.tuples(records, st.booleans()).map(
            lambda t: oip_body(t[0], features, nested=t[1])
        )
    elif operation.label == "POST /invocations":
        forms = st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs"])
        bodies = st.tuples(records, forms).map(lambda t: invocations_body(t[0], features, t[1]))
    else:
        return None
    return bodies.flatmap(
        lambda body: operation.as_strategy(
            GenerationMode.POSITIVE, body=body, media_type="application/json"
        )
    )


@dataclass
class Plan:
    label: str
    kind: str  # positive | negative | constructed
    strategy: st.SearchStrategy[schemathesis.Case]
    must_accept: bool  # a 200 is the only right answer (bar an unscorable row)
    headers: dict[str, str] = field(default_factory=dict)


def plans(schema: schemathesis.BaseSchema, features: list[FeatureSpec] | None) -> Iterator[Plan]:
    """Every operation with data that fits its schema and data that does not; bodies built
    to be valid for the cross-checked routes; admin operations with and without the token."""
    for result in schema.get_all_operations():
        operation = result.ok()
        label = operation.label
        has_inputs = bool(list(operation.iter_parameters())) or bool(list(operation.body))
        tokens = (
            [{"Authorization": f"Bearer {TOKEN}"}, {}] if label.startswith("POST /api/") else [{}]
        )
        for headers in tokens:
            positive = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
            if label.startswith(("GET /api/models", "POST /api/models")):
                # the project's own name and real versions, not only random strings
                positive = positive | st.sampled_from(["1", "2", "3"]).flatmap(
                    lambda v, op=operation: op.as_strategy(
                        path_parameters={"name": "tiny", "version": v}
                    )
                )
            yield Plan(
                label,
                "positive",
                positive,
                features is not None and label == "POST /predict",
                headers,
            )
            if has_inputs:
                negative = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
                yield Plan(label, "negative", negative, False, headers)
            built = None if features is None else constructed(schema, operation, features)
            if built is not None:
                yield Plan(label, "constructed", built, True, headers)


def fuzz(
    schema: schemathesis.BaseSchema,
    features: list[FeatureSpec] | None,
    max_examples: int = 0,
    prediction_examples: int = 0,
) -> Outcomes:
    """Schemathesis' coverage phase (boundary and type-mutation cases, deterministic) and
    then Hypothesis-driven fuzzing (if given examples). `features`: the served version's
    (None: nothing is deployed)."""
    outcomes = Outcomes()
    for result in schema.get_all_operations():
        operation = result.ok()
        tokens = (
            [{"Authorization": f"Bearer {TOKEN}"}, {}]
            if operation.label.startswith("POST /api/")
            else [{}]
        )
        for headers in tokens:
            run_coverage(schema, operation, headers, outcomes)
    for plan in plans(schema, features) if prediction_examples else ():
        n = prediction_examples if plan.label in PREDICTION_ROUTES else max_examples
        run_plan(plan, n, outcomes)
    return outcomes


def run_coverage(
    schema: schemathesis.BaseSchema, operation: Any, headers: dict[str, str], outcomes: Outcomes
) -> None:
    cases = schema.iter_coverage_cases(
        operation,
        generation_modes=list(GenerationMode),
        generation_config=schema.config.generation_for(operation=operation),
    )
    for case in cases:
        try:
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)
        except BaseException as exc:
            exc.add_note(
                f"coverage case for {operation.label} (headers {sorted(headers)}):\n"
                + case.as_curl_command(headers=headers)
            )
            raise
        outcomes.statuses[operation.label, "coverage", response.status_code] += 1


def unscorable(response: Any) -> bool:
    """The one 422 a valid body may get: values the model cannot score to a finite number."""
    return response.status_code == 422 and "no finite answer" in response.json()["error"]


def run_plan(plan: Plan, n: int, outcomes: Outcomes) -> None:
    checks = CHECKS
    # Canary steps must increase, and a time parameter must read as a time (rules JSON
    # Schema cannot state): a schema-valid deploy body or `at`/`since` string may still be a
    # 422, so those routes are checked for no 5xx and conformance only.
    if (
        plan.kind == "positive"
        and plan.label not in PREDICTION_ROUTES
        and plan.label not in {"POST /api/models/{name}/deploy", "GET /api/status", "GET /api/dora"}
    ):
        checks = [*CHECKS, positive_data_acceptance]

    @settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=plan.strategy)
    def test(case: schemathesis.Case) -> None:
        response = case.call(headers=plan.headers)
        case.validate_response(response, checks=checks, headers=plan.headers)
        if plan.must_accept:
            assert response.status_code == 200 or unscorable(response), response.text
        outcomes.statuses[plan.label, plan.kind, response.status_code] += 1

    try:
        test()
    except Unsatisfiable:
        if plan.kind != "negative":
            raise
        # nothing in this operation can be made invalid (only free-form string path
        # parameters): schemathesis' own runner skips such an operation too
        outcomes.unsatisfiable.add(plan.label)
    except BaseException as exc:
        exc.add_note(
            f"while fuzzing {plan.label} ({plan.kind} data, headers {sorted(plan.headers)})"
        )
        raise


def test_no_request_gets_a_5xx_and_every_answer_fits_the_schema(
    project: Project, served: schemathesis.BaseSchema
) -> None:
    features = project.registry.load(project.name, "1").features
    assert {f.kind for f in features} == {"numeric", "categorical", "boolean"}
    assert any(f.nullable for f in features) and not all(f.nullable for f in features)
    outcomes = fuzz(served, features, max_examples=5, prediction_examples=12)
    labels = {op for op, _, _ in outcomes.statuses}
    assert labels >= PREDICTION_ROUTES and not PREDICTION_ROUTES & outcomes.unsatisfiable
    assert {"POST /api/models/{name}/versions/{version}/approve", "GET /api/status"} <= labels
    # valid bodies were answered and invalid ones turned away: not a vacuous pass
    assert outcomes.count("POST /predict", "positive", 200, 300) > 0, str(outcomes)
    for label in CROSS_CHECKED:
        assert outcomes.count(label, "constructed", 200, 300) > 0, f"{label}\n{outcomes}"
    for label in PREDICTION_ROUTES:
        assert outcomes.count(label, "negative", 400, 500) > 0, f"{label}\n{outcomes}"
    approve = "POST /api/models/{name}/versions/{version}/approve"
    assert outcomes.count(approve, "positive", 200, 300) > 0, str(outcomes)
    assert outcomes.count(approve, "positive", 401, 402) > 0, str(outcomes)


def test_before_a_deploy_the_schema_is_generic_and_routes_answer_503() -> None:
    from opsloop.store import OpsStore

    ctx = ServeContext(
        model_name="m",
        store=OpsStore("sqlite://"),
        load_version=lambda v: pytest.fail("nothing is deployed"),
        log_writer=None,
        reload_interval=3600,
    )
    app = create_app(ctx)
    # 503 is the documented answer while nothing is deployed
    config = schemathesis.Config.from_dict(
        {"checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}}}
    )
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
        outcomes = fuzz(schema, None)  # the coverage phase: deterministic and enough here
    finally:
        asgi.shutdown_lifespans()
    for label in PREDICTION_ROUTES:
        assert outcomes.count(label, "coverage", 503, 504) > 0, f"{label}\n{outcomes}"
    assert not [s for (_, _, s) in outcomes.statuses if s >= 500 and s != 503]
