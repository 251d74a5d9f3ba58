"""The dashboard's routes over a trained tiny project (memory registry, in-memory ops
store): reading needs a login unless public_read, actions need a session and the form's
CSRF token and are recorded with the actor, and the pages show the services' numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opsloop.project import Project
from opsloop.ui.app import create_ui_app
from tinyproject import write_tiny_project

TOKEN = "s3cret"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    root = write_tiny_project(tmp_path / "p", approval="manual")
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine())
    p.train()  # v1, pending approval
    return p


def client(p: Project, *, public_read: bool = False, token: str | None = TOKEN) -> TestClient:
    site = p.ui_site(admin_token=token)
    site.public_read = public_read
    return TestClient(create_ui_app(site), follow_redirects=False)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "every form carries a CSRF token"
    return found.group(1)


def logged_in(p: Project, name: str = "alice") -> TestClient:
    c = client(p)
    form = c.get("/ui/login")
    answer = c.post(
        "/ui/login", data={"csrf": csrf(form.text), "name": name, "token": TOKEN, "next": "/ui/"}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    return c


def test_reading_needs_a_login_unless_public(project: Project) -> None:
    c = client(project)
    answer = c.get("/ui/models/churn")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login")
    public = client(project, public_read=True)
    page = public.get("/ui/")
    assert page.status_code == 200 and f'data-model="{project.name}"' in page.text
    assert "Approve" not in public.get(f"/ui/models/{project.name}").text  # no actions shown
    closed = client(project, token=None)
    assert closed.get("/ui/").status_code == 403


def test_login_form_refuses_a_wrong_token_or_a_missing_csrf_token(project: Project) -> None:
    c = client(project)
    token = csrf(c.get("/ui/login").text)
    wrong = c.post("/ui/login", data={"csrf": token, "name": "eve", "token": "nope"})
    assert wrong.status_code == 401 and "set-cookie" not in {k.lower() for k in wrong.headers}
    no_csrf = c.post("/ui/login", data={"name": "eve", "token": TOKEN})
    assert no_csrf.status_code == 403


def test_actions_need_a_session_and_csrf_and_record_the_actor(project: Project) -> None:
    name = project.name
    url = f"/ui/models/{name}/versions/1/approve"
    anonymous = client(project, public_read=True)
    assert anonymous.post(url, data={"csrf": "x"}).status_code == 401
    c = logged_in(project)
    assert c.post(url, data={"csrf": "f" * 64}).status_code == 403
    approval = project.store.find_approval(name, "1")
    assert approval is not None and approval.status == "pending"
    assert project.store.find_deployment(name) is None

    page = c.get(f"/ui/models/{name}")
    assert "Approve v1" in page.text
    done = c.post(url, data={"csrf": csrf(page.text), "back": f"/ui/models/{name}"})
    assert done.status_code == 303 and "approved+v1" in done.headers["location"]
    approval = project.store.find_approval(name, "1")
    assert approval is not None and approval.status == "approved" and approval.actor == "ui:alice"
    deployment = project.store.find_deployment(name)
    assert deployment is not None and deployment.version == "1"
    assert deployment.actor == "ui:alice"


def test_a_failed_action_says_why(project: Project) -> None:
    c = logged_in(project)
    page = c.get(f"/ui/models/{project.name}")
    answer = c.post(f"/ui/models/{project.name}/rollback", data={"csrf": csrf(page.text)})
    assert answer.status_code == 409 and 'class="error"' in answer.text


def test_pages_show_the_services_numbers(project: Project) -> None:
    c = logged_in(project)
    status = project.reads.status()
    overview = c.get("/ui/").text
    assert f'data-model="{project.name}"' in overview
    assert [p.version for p in status.pending_approvals] == ["1"]
    model = c.get(f"/ui/models/{project.name}").text
    assert 'data-version="1"' in model and "Lineage" in model
    lineage = project.reads.lineage("1")
    assert lineage.run_id and lineage.run_id in model
    assert c.get(f"/ui/models/{project.name}?version=9").status_code == 404
    assert c.get("/ui/models/nope").status_code == 404
    events = c.get(f"/ui/events?model={project.name}&kind=registered").text
    assert events.count('data-kind="registered"') == 1
    assert c.get("/ui/events?since=yesterday").status_code == 400
    for path in ("deployment", "monitoring"):
        assert c.get(f"/ui/models/{project.name}/{path}").status_code == 200


def test_dora_page_and_as_of_view_show_the_services_figures(project: Project) -> None:
    from datetime import timedelta

    c = logged_in(project)
    page = c.get(f"/ui/models/{project.name}")
    c.post(f"/ui/models/{project.name}/versions/1/approve", data={"csrf": csrf(page.text)})
    deployment = project.store.find_deployment(project.name)
    assert deployment is not None
    dora = project.reads.dora(since=deployment.ts - timedelta(days=1))
    html = c.get("/ui/dora?since=1d").text
    assert f'data-field="promotions">{dora.overall.promotions}<' in html
    assert dora.overall.promotions == 1
    at = deployment.ts.isoformat()  # the instant of the switch (later ones may be future)
    asof = c.get(f"/ui/models/{project.name}/deployment", params={"at": at}).text
    assert 'data-field="asof-version">1<' in asof
    before = (deployment.ts - timedelta(seconds=1)).isoformat()
    assert (
        "nothing was deployed"
        in c.get(f"/ui/models/{project.name}/deployment", params={"at": before}).text
    )
    assert c.get("/ui/dora?since=soon").status_code == 400
    overview = c.get("/ui/?since=1d").text  # DORA per model and overall on the overview
    table = overview[overview.index('id="overview-dora"') :]
    assert f'data-field="promotions">{dora.overall.promotions}<' in table
    assert f'<tr data-model="{project.name}">' in table
    assert c.get("/ui/?since=soon").status_code == 400


def test_monitoring_shows_each_window_up_to_a_week_then_days_and_pages_back() -> None:
    """Up to PER_WINDOW_MAX windows one column each; more aggregated per day (in SQL) and
    said so; at most MAX_WINDOWS a page; the older link shows the windows before."""
    from datetime import UTC, datetime, timedelta

    from monitor_fixtures import feature, store_window
    from monitor_fixtures import summary as make_summary
    from opsloop.config import ProjectConfig
    from opsloop.services import ReadService
    from opsloop.store import OpsStore
    from opsloop.ui import UIModel, UISite
    from opsloop.ui.pages import MAX_WINDOWS, PER_WINDOW_MAX

    store = OpsStore("sqlite://")
    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    hours = PER_WINDOW_MAX + 48  # 9 days: 216 windows
    for h in range(hours):
        s = make_summary(h, [feature("x", 0.3, drifted=h % 24 == 0), feature("y", 0.01)])
        store_window(
            store,
            model="m",
            version="1",
            window_start=t0 + timedelta(hours=h),
            window_end=t0 + timedelta(hours=h + 1),
            n_rows=500,
            n_labelled=200,
            drift_detected=s["drift"]["detected"],
            drift_share=s["drift"]["share"],
            performance_metric="roc_auc",
            performance_value=0.8,
            performance_degraded=False,
            report_path=None,
            summary=s,
        )
    cfg = ProjectConfig(model="m", target="y", id_column="id", time_column="ts")
    site = UISite([UIModel(ReadService(store, cfg))], public_read=True)
    c = TestClient(create_ui_app(site), follow_redirects=False)
    url = "/ui/models/m/monitoring"

    week = c.get(f"{url}?windows={PER_WINDOW_MAX}").text
    assert 'data-per="window"' in week and f'data-columns="{PER_WINDOW_MAX}"' in week
    older = re.search(r'href="([^"]+)" id="older"', week)
    assert older, "a full page links to the windows before it"
    back = c.get(older.group(1).replace("&amp;", "&")).text
    assert 'data-per="window"' in back and 'data-columns="48"' in back  # the 48 left
    assert 'id="older"' not in back  # nothing older

    days = c.get(f"{url}?windows={hours}").text
    assert 'data-per="day"' in days and "aggregated per day" in days
    assert 'data-columns="9"' in days and 'data-rows="2"' in days
    # x drifted in the first window of each day: every day's x cell is drifted, pale
    assert days.count('data-status="drifted"') == 9
    assert "x · 2026-05-01: 1 drifted, 23 ok of 24 windows" in days
    assert 'data-series="2"' in days  # realised and estimated performance per day
    first_day = re.search(r'<a href="([^"]+)"><rect class="cell"', days)
    assert first_day, "a day's cell links to that day's windows"
    day = c.get(first_day.group(1).replace("&amp;", "&")).text
    assert 'data-per="window"' in day and 'data-columns="24"' in day
    assert "2026-05-01 00:00 → 2026-05-02 00:00" in day
    cell = re.search(r'<a href="([^"]+)"><rect class="cell"', day)
    assert cell and "windows=24&amp;to=" in cell.group(1)  # a window's link keeps the page
    detail = c.get(cell.group(1).replace("&amp;", "&")).text
    assert 'data-columns="24"' in detail and 'id="window"' in detail
    capped = c.get(f"{url}?windows={MAX_WINDOWS * 10}").text
    assert f'value="{MAX_WINDOWS}"' in capped
    assert c.get(f"{url}?to=yesterday").status_code == 400
    store.close()


def test_lineage_lists_the_versions_batch_outputs(project: Project) -> None:
    from datetime import UTC, datetime

    from opsloop.store.records import NewBatchRun

    def run(run_id: str, version: str, status: str) -> NewBatchRun:
        ts = datetime(2026, 1, 2, 3, tzinfo=UTC)
        return NewBatchRun(
            run_id=run_id,
            model=project.name,
            version=version,
            status=status,
            started=ts,
            finished=ts,
            rows=123,
            input="in.parquet",
            input_fingerprint="f",
            output=None if status == "failed" else f"/out/run={run_id}",
            seconds=1.0,
            error="boom" if status == "failed" else None,
        )

    project.store.record_batch_run(run("r-ok", "1", "succeeded"))
    project.store.record_batch_run(run("r-failed", "1", "failed"))
    project.store.record_batch_run(run("r-other", "2", "succeeded"))
    lineage = project.reads.lineage("1")
    assert [b.run_id for b in lineage.batch_runs] == ["r-ok"]
    page = logged_in(project).get(f"/ui/models/{project.name}").text
    assert "r-ok" in page and "/out/run=r-ok" in page
    assert "r-failed" not in page and "r-other" not in page
