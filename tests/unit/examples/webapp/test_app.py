"""The restaurants web app's contract: status codes and JSON shapes of
`GET /users/{id}/recommendations` (a user's published list, the fallback list for an
unknown user, 503 with nothing published), `POST /visits` (201 and stored as a label, 422
naming the field at fault) and `GET /health`; errors in opsloop's one error shape."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from opsloop.examples.webapp.app import create_app
from opsloop.project import Project
from opsloop.registry.memory import MemoryRegistry
from opsloop.store import OpsStore
from ranking_output import output_table, publish, record_run, write_ranking_project

ERROR_KEYS = {"error", "type", "expected", "got", "fix", "details"}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = write_ranking_project(tmp_path / "p")
    return Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), actor="tester")


def client(p: Project) -> TestClient:
    return TestClient(create_app(p, reads=p.store, interval=0.05))


def publish_a(p: Project) -> None:
    table = output_table("run-a", "1", {"u1": ["r5", "r2", "r9"], "u2": ["r1"]}, ["r7", "r8"])
    record_run(p.store, p.root, "run-a", "1", table)
    publish(p.store, "run-a")


@pytest.fixture
def app(project: Project) -> Iterator[TestClient]:
    publish_a(project)
    with client(project) as c:
        yield c


def test_a_user_gets_their_list_stamped_with_its_run(app: TestClient) -> None:
    answer = app.get("/users/u1/recommendations")
    assert answer.status_code == 200
    assert answer.json() == {
        "user": "u1",
        "fallback": False,
        "model": "restaurants",
        "version": "1",
        "run_id": "run-a",
        "recommendations": [
            {"rank": 1, "restaurant": "r5", "score": 1.0},
            {"rank": 2, "restaurant": "r2", "score": 0.5},
            {"rank": 3, "restaurant": "r9", "score": pytest.approx(1 / 3)},
        ],
    }


def test_an_unknown_user_gets_the_fallback_list(app: TestClient) -> None:
    for user in ("u404", "a%20b", "42"):
        answer = app.get(f"/users/{user}/recommendations")
        assert answer.status_code == 200
        body = answer.json()
        assert body["fallback"] is True and body["run_id"] == "run-a"
        assert [r["restaurant"] for r in body["recommendations"]] == ["r7", "r8"]
    assert app.get("/users/a%20b/recommendations").json()["user"] == "a b"


def test_nothing_published_is_503_with_a_clear_error(project: Project) -> None:
    with client(project) as c:
        answer = c.get("/users/u1/recommendations")
        assert answer.status_code == 503
        body = answer.json()
        assert set(body) == ERROR_KEYS
        assert (
            "no recommendations to serve" in body["error"] and "has no published" in body["error"]
        )
        assert "opsloop predict --publish" in body["fix"]
        health = c.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        publish_a(project)  # picked up by the follower
        for _ in range(600):
            if c.get("/health").status_code == 200:
                break
            time.sleep(0.05)
        assert c.get("/users/u2/recommendations").json()["recommendations"][0]["restaurant"] == "r1"


def test_a_visit_is_stored_as_a_label(app: TestClient, project: Project) -> None:
    answer = app.post(
        "/visits",
        json={"user": "u1", "restaurant": "r5", "time": "2026-12-07T19:30:00Z", "rating": 5},
    )
    assert answer.status_code == 201
    assert answer.json() == {
        "stored": True,
        "user": "u1",
        "restaurant": "r5",
        "time": "2026-12-07T19:30:00+00:00",
        "rating": 5.0,
        "listed": True,
        "run_id": "run-a",
    }
    before = datetime.now(UTC)
    later = app.post("/visits", json={"user": "u404", "restaurant": "r7"})
    assert later.status_code == 201 and later.json()["listed"] is False
    rows = [
        r
        for f in sorted(project.paths.labels.glob("*.parquet"))
        for r in pq.read_table(f).to_pylist()
    ]
    assert sorted((r["prediction_id"], r["label"], r["rating"]) for r in rows) == [
        ("u1", "r5", 5.0),
        ("u404", "r7", None),
    ]
    defaulted = next(r["label_ts"] for r in rows if r["prediction_id"] == "u404")
    assert before - timedelta(minutes=1) <= defaulted <= datetime.now(UTC)  # no time: now
    [first, second] = project.events(kinds=["labels_added"])
    assert first.evidence["matched"] == 1 and second.evidence["waiting"] == 1
    health = app.get("/health").json()
    assert health["visits"] == {"stored": 2, "parts": 2, "failed": 0}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"restaurant": "r1"}, "user"),
        ({"user": "u1", "restaurant": "r1", "rating": 7}, "rating"),
        ({"user": "u1", "restaurant": "r1", "time": "next tuesday"}, "time"),
        ({"user": "u1", "restaurant": "r1", "stars": 4}, "stars"),
        ([{"user": "u1", "restaurant": "r1"}], "body"),
    ],
)
def test_a_bad_visit_is_422_naming_the_field(
    app: TestClient, project: Project, body: object, field: str
) -> None:
    answer = app.post("/visits", json=body)
    assert answer.status_code == 422
    error = answer.json()
    assert set(error) == ERROR_KEYS and error["type"] == "VisitError"
    assert [d["field"] for d in error["details"]] == [field]
    assert not project.paths.labels.exists() or not list(project.paths.labels.glob("*.parquet"))


def test_a_body_that_is_not_json_is_422(app: TestClient) -> None:
    answer = app.post("/visits", content=b"{user: u1", headers={"content-type": "application/json"})
    assert answer.status_code == 422 and "not JSON" in answer.json()["error"]


def test_unknown_routes_answer_in_the_same_error_shape(app: TestClient) -> None:
    missing = app.get("/restaurants")
    assert missing.status_code == 404 and set(missing.json()) == ERROR_KEYS
    wrong = app.get("/visits")
    assert wrong.status_code == 405 and "POST /visits" in wrong.json()["expected"]


def test_health_names_the_run_served(app: TestClient) -> None:
    health = app.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ready" and body["run_id"] == "run-a" and body["version"] == "1"
    assert (body["users"], body["fallback"], body["stale"]) == (2, True, False)
    assert (body["published_run_id"], body["published_revision"], body["error"]) == (
        "run-a",
        1,
        None,
    )


def test_only_a_recommender_gets_a_web_app(tmp_path: Path) -> None:
    from opsloop.errors import NotFoundError
    from tinyproject import write_tiny_project

    tiny = Project(write_tiny_project(tmp_path / "t"), store=OpsStore("sqlite://"))
    with pytest.raises(NotFoundError, match="not a recommender"):
        create_app(tiny)


def test_the_app_starts_without_pandas_sqlalchemy_or_mlflow() -> None:
    import subprocess
    import sys

    heavy = ("pandas", "sqlalchemy", "mlflow", "sklearn", "opsloop.examples.restaurants")
    code = (
        "import sys, opsloop.examples.webapp.app, opsloop.project, uvicorn; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
