"""The management API: open reads, bearer-token approve/reject, JSON errors, no 500s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opsloop.project import Project
from opsloop.serve import ServeContext, create_app
from tinyproject import write_tiny_project

AUTH = {"Authorization": "Bearer s3cret", "X-Opsloop-Actor": "carol"}


def project(tmp_path: Path) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    root = write_tiny_project(tmp_path / "p", approval="manual")
    return Project(
        root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine()
    )


def client_for(p: Project, token: str | None) -> TestClient:
    ctx = ServeContext(
        model_name=p.name,
        store=p.store,
        load_version=lambda v: p.registry.load(p.name, v),
        log_writer=None,
        runtime=p.runtime,
        admin_token=token,
        reload_interval=0.05,
    )
    return TestClient(create_app(ctx))


@pytest.fixture
def managed(tmp_path: Path) -> Iterator[tuple[Project, TestClient]]:
    p = project(tmp_path)
    p.train()
    with client_for(p, "s3cret") as client:
        yield p, client


def test_approve_needs_the_bearer_token(managed: tuple[Project, TestClient]) -> None:
    p, client = managed
    url = "/api/models/tiny/versions/1/approve"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        r = client.post(url, headers=headers)
        assert r.status_code == 401 and "bearer token" in r.json()["error"]
        body = r.json()  # the documented management-error fields, each filled in
        assert body["type"] == "Unauthorized" and body["details"] == []
        assert "Bearer" in body["expected"] and body["got"] and "Bearer" in body["fix"]
        assert "s3cret" not in r.text and "wrong" not in body["got"]  # no token echoed
    assert p.store.find_deployment("tiny") is None
    r = client.post(url, headers=AUTH, json={"comment": "looks good"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["approval"]["actor"] == "api:carol" and body["approval"]["status"] == "approved"
    assert body["deployment"]["version"] == "1"
    assert client.get("/api/status").json()["deployment"]["version"] == "1"


def test_reject_the_champion_over_http_rolls_back(managed: tuple[Project, TestClient]) -> None:
    p, client = managed
    client.post("/api/models/tiny/versions/1/approve", headers=AUTH)
    p.train(force=True)
    client.post("/api/models/tiny/versions/2/approve", headers=AUTH)
    r = client.post(
        "/api/models/tiny/versions/2/reject", headers=AUTH, json={"comment": "complaints"}
    )
    assert r.status_code == 200 and r.json()["deployment"]["version"] == "1"
    events = client.get("/api/events?limit=10").json()
    kinds = [e["kind"] for e in events if e["kind"] != "server_loaded"]  # the reload's
    assert kinds[-2:] == ["rejected", "rolled_back"]


def test_gate_report_and_errors_are_json(managed: tuple[Project, TestClient]) -> None:
    _, client = managed
    report = client.get("/api/models/tiny/versions/1/gate").json()
    assert report["version"] == "1" and report["metrics"][0]["metric"] == "roc_auc"
    r = client.get("/api/models/tiny/versions/9/gate")
    assert r.status_code == 404 and r.json()["fix"]
    r = client.get("/api/models/other/versions/1/gate")
    assert r.status_code == 404 and "unknown model" in r.json()["error"]
    r = client.post("/api/models/tiny/versions/9/approve", headers=AUTH)
    assert r.status_code == 404 and "no version '9'" in r.json()["error"]
    r = client.post(
        "/api/models/tiny/versions/1/approve", headers=AUTH, json={"comment": "x", "surprise": 1}
    )
    assert r.status_code == 422
    r = client.post("/api/models/tiny/versions/1/approve", headers=AUTH, content=b"{not json")
    assert r.status_code == 422
    client.post("/api/models/tiny/versions/1/approve", headers=AUTH)
    r = client.post("/api/models/tiny/versions/1/reject", headers=AUTH)  # the only champion
    assert r.status_code == 409 and "no earlier version to roll back to" in r.json()["error"]
    assert client.get("/api/status").json()["champion"]["approval"]["status"] == "approved"


def test_without_a_token_the_admin_api_is_disabled(tmp_path: Path) -> None:
    p = project(tmp_path)
    p.train()
    with client_for(p, None) as client:
        r = client.post("/api/models/tiny/versions/1/approve", headers=AUTH)
        assert r.status_code == 403 and "OPSLOOP_ADMIN_TOKEN" in r.json()["error"]
        assert client.get("/api/status").status_code == 200


def test_rollout_admin_endpoints(managed: tuple[Project, TestClient]) -> None:
    p, client = managed
    client.post("/api/models/tiny/versions/1/approve", headers=AUTH)
    p.train(force=True)  # version 2 waits for a person
    deploy = "/api/models/tiny/deploy"
    body = {"version": "2", "strategy": "canary", "steps": [20, 100], "bake": "1m"}
    assert client.post(deploy, json=body).status_code == 401
    r = client.post(deploy, json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    rollout = r.json()["rollout"]
    assert (rollout["share"], rollout["steps"], rollout["actor"]) == (20, [20, 100], "api:carol")
    assert rollout["settings"]["bake_seconds"] == 60
    state = client.get("/api/models/tiny/rollout").json()["rollout"]
    assert state["status"] == "running" and state["analysis"]["verdict"] == "wait"
    assert {c["name"] for c in state["analysis"]["checks"]} >= {"error_rate", "p99_ratio"}
    assert client.get("/api/status").json()["rollout"]["candidate_version"] == "2"
    # a second rollout is a conflict, not a 500
    r = client.post(deploy, json={**body, "version": "1"}, headers=AUTH)
    assert r.status_code == 409 and "rollout" in r.json()["fix"]
    r = client.post("/api/models/tiny/rollout/abort", json={"reason": "wait"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["rollout"]["status"] == "aborted"
    assert client.post("/api/models/tiny/rollout/promote", headers=AUTH).status_code == 409
    client.post(deploy, json={"version": "2", "strategy": "shadow"}, headers=AUTH)
    r = client.post("/api/models/tiny/rollout/promote", headers=AUTH)
    assert r.status_code == 200 and r.json()["rollout"]["status"] == "promoted"
    assert p.store.find_deployment("tiny").version == "2"  # type: ignore[union-attr]
    r = client.post("/api/models/tiny/rollback", json={"reason": "oops"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["deployment"]["version"] == "1"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"version": "2", "strategy": "yolo"}, 422),
        ({"version": "2", "steps": [50, 10]}, 422),
        ({"version": "2", "bake": "soon"}, 422),
        ({"version": "77"}, 404),
        ({"strategy": "canary"}, 422),
        ({"version": "2", "surprise": 1}, 422),
    ],
)
def test_bad_deploy_bodies_are_4xx(
    managed: tuple[Project, TestClient], body: dict[str, object], status: int
) -> None:
    p, client = managed
    client.post("/api/models/tiny/versions/1/approve", headers=AUTH)
    p.train()
    r = client.post("/api/models/tiny/deploy", json=body, headers=AUTH)
    assert r.status_code == status, r.text
    assert p.store.find_running_rollout("tiny") is None
    assert p.store.find_deployment("tiny").version == "1"  # type: ignore[union-attr]


def test_fastapi_errors_have_the_servers_error_shape(managed: tuple[Project, TestClient]) -> None:
    _, client = managed
    url = "/api/models/tiny/versions/1/approve"
    invalid = client.post(url, headers=AUTH, json={"comment": "x", "surprise": 1})
    assert invalid.status_code == 422
    assert invalid.json()["details"][0]["field"] == "body.surprise", invalid.text
    not_json = client.post(
        url, headers={**AUTH, "content-type": "application/json"}, content=b"{not json"
    )
    assert not_json.status_code == 422
    assert not_json.json()["details"][0]["expected"] == "valid JSON", not_json.text
    events = client.get("/api/events?limit=many")
    assert events.status_code == 422 and events.json()["details"][0]["field"] == "query.limit"
    undecodable = client.post(
        url, headers={**AUTH, "content-type": "application/json"}, content=b"\xff"
    )  # not UTF-8: FastAPI cannot even decode it
    assert undecodable.status_code == 400 and undecodable.json()["error"]
    unknown = client.get("/api/nothing")
    assert unknown.status_code == 404 and unknown.json() == {
        "error": "Not Found",
        "type": "RequestError",
        "expected": None,
        "got": None,
        "fix": None,
        "details": [],
    }
    wrong_method = client.delete("/api/status")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "GET"


def test_management_errors_are_documented_and_fit_the_schema(
    managed: tuple[Project, TestClient],
) -> None:
    import jsonschema_rs

    _, client = managed
    doc = client.get("/openapi.json").json()
    approve = doc["paths"]["/api/models/{name}/versions/{version}/approve"]["post"]
    assert {"400", "401", "403", "404", "409", "422"} <= set(approve["responses"])
    assert approve["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "authorization" not in {p["name"].lower() for p in approve.get("parameters", [])}
    gate = doc["paths"]["/api/models/{name}/versions/{version}/gate"]["get"]
    assert {"404", "422"} <= set(gate["responses"]) and "security" not in gate
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    api_error = jsonschema_rs.validator_for(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/components/schemas/ApiError",
            "components": doc["components"],
        }
    )
    url = "/api/models/tiny/versions/1/approve"
    json_body = {**AUTH, "content-type": "application/json"}
    answers = [
        (401, client.post(url)),
        (404, client.post("/api/models/tiny/versions/9/approve", headers=AUTH)),
        (404, client.get("/api/models/other/versions/1/gate")),
        (422, client.post(url, headers=AUTH, json={"surprise": 1})),
        (422, client.post(url, headers=json_body, content=b"{not json")),
        (400, client.post(url, headers=json_body, content=b"\xff")),
    ]
    for status, answer in answers:
        assert answer.status_code == status, answer.text
        api_error.validate(answer.json())


def test_retrain_requests_over_http(managed: tuple[Project, TestClient]) -> None:
    p, client = managed
    url = "/api/models/tiny/retrain"
    assert client.post(url, json={"reason": "x"}).status_code == 401
    assert client.post("/api/models/other/retrain", headers=AUTH).status_code == 404
    assert client.post(url, headers=AUTH, json={"surprise": 1}).status_code == 422
    assert client.get(url).json() == {"requests": []}
    r = client.post(url, headers=AUTH, json={"reason": "fresh labels from the audit"})
    assert r.status_code == 202, r.text
    request = r.json()["request"]
    assert request["status"] == "pending" and request["actor"] == "api:carol"
    assert request["reason"] == "fresh labels from the audit"
    listed = client.get(url).json()["requests"]
    assert [x["id"] for x in listed] == [request["id"]]
    status = client.get("/api/status").json()
    manual = next(t for t in status["schedule"]["triggers"] if t["trigger"] == "manual")
    assert manual["pending"] == [request["id"]] and manual["cooldown_until"] is None
    assert status["retrain_requests"][-1]["id"] == request["id"]
    events = client.get("/api/events?kind=retrain_requested").json()
    assert events[-1]["actor"] == "api:carol" and events[-1]["id"] == request["id"]

    p.tick()  # the agent picks it up: version 2 is trained
    one = client.get(f"{url}/{request['id']}").json()["request"]
    assert one["status"] == "fired" and one["run"] is not None
    assert one["run_status"] == "succeeded"
    assert client.get(f"{url}/999").status_code == 404
    assert client.get(f"{url}/abc").status_code == 422
    assert client.post(url, headers=AUTH).status_code == 202  # no body: no reason

    # a request may name its data window, checked like `opsloop retrain --from/--to`
    bad = client.post(url, headers=AUTH, json={"from": "2023-06-01", "to": "2023-05-01"})
    assert bad.status_code == 422 and "--to must be after --from" in bad.json()["error"]
    asked = client.post(url, headers=AUTH, json={"reason": "as of May", "as_of": "2023-06-01"})
    assert asked.status_code == 202, asked.text
    assert asked.json()["request"]["window"] == {"as_of": "2023-06-01T00:00:00+00:00"}


def test_monitoring_history_route(managed: tuple[Project, TestClient]) -> None:
    from datetime import UTC, datetime, timedelta

    from monitor_fixtures import feature, store_window, summary
    from opsloop.monitor.previous import compare_windows

    p, client = managed
    assert client.get("/api/models/tiny/monitoring").json() == {
        "model": "tiny",
        "version": None,
        "windows": [],
    }
    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    older = summary(0, [feature("x", 0.1)], extras=False)  # an older opsloop's summary
    newer = summary(1, [feature("x", 0.3, drifted=True)], extras=True, perf=0.7)
    newer["previous"] = compare_windows(newer, older, previous_id=1).to_json()
    for hour, s in ((1, newer), (0, older)):  # stored out of window order
        store_window(
            p.store,
            model="tiny",
            version="1",
            window_start=t0 + timedelta(hours=hour),
            window_end=t0 + timedelta(hours=hour + 1),
            n_rows=500,
            n_labelled=s["n_labelled"],
            drift_detected=s["drift"]["detected"],
            drift_share=s["drift"]["share"],
            performance_metric="roc_auc",
            performance_value=s["performance_value"],
            performance_degraded=s["performance_degraded"],
            report_path=None,
            summary=s,
        )
    body = client.get("/api/models/tiny/monitoring?limit=5").json()
    first, second = body["windows"]
    assert first["window_start"].startswith("2026-05-01T00:00")
    assert first["estimated_performance"] is None and first["previous"] is None
    assert first["quality_passed"] is None and first["features"]["x"]["statistic"] == 0.1
    assert second["features"]["x"]["drifted"] is True and second["quality_passed"] is False
    # windows stored before materiality: the verdict from the status, no effect size
    assert (first["features"]["x"]["verdict"], second["features"]["x"]["verdict"]) == (
        "no drift",
        "drift",
    )
    assert second["features"]["x"]["effect_size"] is None
    assert second["estimated_performance"] == {
        "value": 0.78,
        "lower": 0.76,
        "upper": 0.9,
        "degraded": False,
    }
    assert second["multivariate"]["drifted"] is True
    assert second["previous"]["newly_drifted"] == ["x"]
    assert second["previous"]["performance_change"] == pytest.approx(-0.1)
    assert [
        w["window_start"][11:13]
        for w in client.get("/api/models/tiny/monitoring?limit=1").json()["windows"]
    ] == ["01"]
    assert client.get("/api/models/tiny/monitoring?version=2").json()["windows"] == []
    r = client.get("/api/models/other/monitoring")
    assert r.status_code == 404 and "unknown model" in r.json()["error"]
    assert client.get("/api/models/tiny/monitoring?limit=many").status_code == 422


def test_dora_and_status_as_of_over_http_equal_the_project(
    managed: tuple[Project, TestClient],
) -> None:
    from datetime import UTC, datetime, timedelta

    p, client = managed
    client.post("/api/models/tiny/versions/1/approve", headers=AUTH)  # the first promotion
    promoted = p.store.find_deployment(p.name)
    assert promoted is not None
    since = (promoted.ts - timedelta(days=1)).isoformat()
    until = (promoted.ts + timedelta(hours=1)).isoformat()
    answer = client.get("/api/dora", params={"since": since, "until": until})
    assert answer.status_code == 200, answer.text
    assert answer.json() == p.dora(since=since, until=until).to_json()
    assert answer.json()["overall"]["promotions"] == 1
    assert "rolled back" in answer.json()["definitions"]["change_failure_rate"]
    only = client.get("/api/dora", params={"since": since, "until": until, "model": "nobody"})
    assert [m["model"] for m in only.json()["models"]] == ["nobody"]
    after = promoted.ts.isoformat()
    as_of = client.get("/api/status", params={"at": after}).json()
    assert as_of == p.status_at(after).to_json()
    assert as_of["version"] == "1" and as_of["traffic"][0]["share"] == 100.0
    before = client.get("/api/status", params={"at": since}).json()
    assert before["version"] is None and before["traffic"] == []
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    for url, params in (
        ("/api/status", {"at": "yesterday"}),
        ("/api/status", {"at": future}),
        ("/api/dora", {"since": "soon"}),
        ("/api/dora", {"since": until, "until": since}),
    ):
        r = client.get(url, params=params)
        assert r.status_code == 422, (url, params, r.text)  # an InvalidInputError
        assert r.json()["expected"]
    doc = client.get("/openapi.json").json()
    assert "422" in doc["paths"]["/api/dora"]["get"]["responses"]
    assert "at" in {q["name"] for q in doc["paths"]["/api/status"]["get"]["parameters"]}


def test_status_and_events_never_show_a_credential(tmp_path: Path) -> None:
    """Exception text from user code can quote a connection string: it is masked when the
    event or run is written, and rows written before that are masked when read."""
    from opsloop.store import schema as t
    from opsloop.store.records import utcnow

    p = project(tmp_path)
    dsn = "postgresql://etl:hunter2pw@warehouse.internal/sales"
    p.store.add_event("training_failed", p.name, summary=f"load() failed: {dsn}",
                      evidence={"stage": "load", "error": f"OperationalError: {dsn}"})  # fmt: skip
    run = p.store.start_run(p.name, "train")
    p.store.update_run(run, stages=[{"name": "load", "error": dsn}], status="failed", error=dsn)
    with p.store.engine.begin() as conn:  # rows as an opsloop before redaction wrote them
        conn.execute(
            t.events.insert().values(
                ts=utcnow(), kind="training_failed", model=p.name, version=None,
                actor="opsloop", summary=f"old: {dsn}", evidence={"error": dsn},
            )
        )  # fmt: skip
        conn.execute(
            t.pipeline_runs.insert().values(
                model=p.name, pipeline="train", status="failed", started=utcnow(),
                finished=utcnow(), trigger=None, stages=[], result={}, error=f"old: {dsn}",
            )
        )  # fmt: skip
    with client_for(p, "s3cret") as client:
        events = client.get("/api/events?limit=10")
        status = client.get("/api/status")
    assert events.status_code == status.status_code == 200
    for body in (events.text, status.text):
        assert "hunter2pw" not in body and "etl:***@warehouse.internal" in body
    assert len([e for e in events.json() if e["kind"] == "training_failed"]) == 2


def test_published_batch_output_over_http(managed: tuple[Project, TestClient]) -> None:
    """The reader contract of a downstream app: what `opsloop predict --publish` made
    current, with its files; 404 before anything is published."""
    from tinyproject import tiny_frame

    p, client = managed
    url = "/api/models/tiny/batch/current"
    r = client.get(url)
    assert r.status_code == 404 and "no published batch output" in r.json()["error"]
    client.post("/api/models/tiny/versions/1/approve", headers=AUTH)
    frame = tiny_frame(30, seed=9, prefix="h", days=0.01).drop(columns=["label"])
    out = p.root / "batch-out"
    result = p.predict(frame, out, publish=True)
    body = client.get(url).json()
    assert body["run_id"] == result.run.run_id and body["rows"] == 30
    assert body["revision"] == 1 and body["version"] == "1"
    assert body["files"] == [str(result.output / "part-00000.parquet")]
    assert client.get("/api/models/other/batch/current").status_code == 404
