"""The dashboard end to end in a real browser (Chromium via Playwright) on a project made
by `opsloop demo`, mounted in a running `opsloop serve` (`serve.ui: true`): every page
shows the numbers of `opsloop status --json`, the charts draw their series, approving and
rolling back through the buttons changes the ops store and what the server answers, and an
action without a login or with a forged CSRF token is refused and changes nothing.

The demo auto-approves (gate.approval: auto), so the pending approval is recorded for v1
(whose gate passed) with `deploy.approvals.record_approval`, the step the loop runs under
`gate.approval: manual`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from uibrowser import launch, login

pytestmark = pytest.mark.slow
TOKEN = "ui-test-token"


def opsloop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opsloop", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=env,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh `opsloop demo` project (OPSLOOP_TEST_DEMO_PROJECT: a copy of one made
    before, to iterate faster), served with the dashboard mounted (`serve.ui: true`)."""
    root = tmp_path_factory.mktemp("ui") / "demo"
    made = os.environ.get("OPSLOOP_TEST_DEMO_PROJECT")
    if made:
        shutil.copytree(made, root)
    else:
        run = opsloop("demo", "--project", str(root))
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    path = root / "opsloop.yaml"
    text = path.read_text()
    assert text.count("\nserve:\n") == 1
    path.write_text(text.replace("\nserve:\n", "\nserve:\n  ui: true\n"))
    return root


def status(root: Path) -> dict[str, Any]:
    run = opsloop("status", "-p", str(root), "--json")
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "OPSLOOP_ADMIN_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsloop", "serve", "-p", str(project), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.3)
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def pending(project: Path) -> str:
    """v1 waits for approval (its gate passed); v2 serves."""
    from opsloop import Project
    from opsloop.deploy.approvals import record_approval

    p = Project(project)
    record_approval(p.runtime, "1", "pending", actor="opsloop (gate)", comment="manual approval")
    return "1"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


def answered_version(url: str, project: Path) -> str:
    import pandas as pd

    frame = pd.read_parquet(project / "data" / "history.parquet").head(1)
    cfg = yaml.safe_load((project / "opsloop.yaml").read_text())
    records = json.loads(
        frame.drop(columns=[cfg["target"]]).to_json(orient="records", date_format="iso")
    )
    response = httpx.post(f"{url}/predict", json={"records": records}, timeout=30)
    assert response.status_code == 200, response.text
    return str(response.json()["model_version"])


def wait_for_version(url: str, project: Path, version: str) -> None:
    deadline = time.monotonic() + 60
    while answered_version(url, project) != version:
        assert time.monotonic() < deadline, f"the server never answered with v{version}"
        time.sleep(0.5)


def test_every_page_shows_the_status_numbers_and_charts(
    project: Path, server: str, pending: str, browser: Any
) -> None:
    expected = status(project)
    page = browser.new_context().new_page()
    page.goto(f"{server}/ui/")
    assert "/ui/login" in page.url  # ui.public_read is off: reading needs a login
    login(page, server, "alice", TOKEN)

    row = page.locator("#overview tr[data-model='churn']")
    assert (
        row.locator("[data-field=champion]").inner_text() == f"v{expected['champion']['version']}"
    )
    last = expected["last_monitor"]
    drift = float(row.locator("[data-field=drift_share]").get_attribute("data-value"))
    assert drift == pytest.approx(last["drift_share"])
    realised = row.locator("[data-field=performance]").get_attribute("data-value")
    assert float(realised) == pytest.approx(last["performance_value"])
    estimated = row.locator("[data-field=estimated]").get_attribute("data-value")
    assert float(estimated) == pytest.approx(last["estimated_performance"]["value"])
    assert [p["version"] for p in expected["pending_approvals"]] == [pending]
    assert row.locator("[data-field=pending]").inner_text().startswith(f"v{pending}")
    assert "expires" in row.locator("[data-field=pending]").inner_text()
    assert "drift" in row.locator("[data-field=alerts]").inner_text()

    page.goto(f"{server}/ui/models/churn")
    shown = page.locator("#versions tr[data-version]").evaluate_all(
        "rows => rows.map(r => r.dataset.version)"
    )
    assert sorted(shown) == sorted(expected["versions"])
    assert (
        page.locator(f"#versions tr[data-version='{pending}'] [data-field=approval]").inner_text()
        == "pending"
    )
    assert "PASSED" in page.locator("[data-field=gate-verdict]").inner_text()
    assert page.locator("#lineage").inner_text().count("MLflow run") == 1
    page.goto(f"{server}/ui/models/churn?a=1&b=2")
    assert page.locator("#compare th").count() == 3

    page.goto(f"{server}/ui/models/churn/deployment")
    assert (
        page.locator("[data-field=traffic]").inner_text()
        == f"v{expected['deployment']['version']} 100%"
    )
    assert page.locator("#history tr[data-revision]").count() == expected["deployment"]["revision"]

    page.goto(f"{server}/ui/models/churn/monitoring")
    heat = page.locator("#heatmap svg")
    judged = page.locator("select[name=feature] option").count()
    assert int(heat.get_attribute("data-rows")) == judged > 0
    assert heat.locator("rect.cell").count() == judged * int(heat.get_attribute("data-columns"))
    charts = page.locator("#series svg")
    series = charts.evaluate_all(
        "cs => cs.map(c => [c.dataset.series, c.querySelectorAll('g.series').length])"
    )
    assert series == [["1", 1], ["2", 2], ["1", 1]]  # drift share; realised + CBPE; multivariate
    assert page.locator("#histogram svg rect").count() > 0
    assert float(page.locator("[data-field=realised]").inner_text()) == pytest.approx(
        last["performance_value"], rel=1e-3
    )
    page.click("#full-report")
    assert "drift" in page.content().lower() and page.locator("svg").count() > 0
    # a month asked for: aggregated per day (in SQL), said so, the same charts per day
    page.goto(f"{server}/ui/models/churn/monitoring?windows=744")
    assert page.locator("#range").get_attribute("data-per") == "day"
    assert "aggregated per day" in page.locator("#range").inner_text()
    heat = page.locator("#heatmap svg")
    assert int(heat.get_attribute("data-rows")) == judged
    days = int(heat.get_attribute("data-columns"))
    assert days >= 1 and heat.locator("rect.cell").count() == judged * days
    assert page.locator("#series svg").evaluate_all(
        "cs => cs.map(c => c.querySelectorAll('g.series').length)"
    ) == [1, 2, 1]

    dora = json.loads(opsloop("dora", "-p", str(project), "--json").stdout)
    page.goto(f"{server}/ui/dora")
    overall = page.locator("#dora tr[data-model='']")
    assert (
        int(overall.locator("[data-field=promotions]").inner_text())
        == dora["overall"]["promotions"]
    )
    churn = page.locator("#dora tr[data-model='churn']")
    figures = next(m["figures"] for m in dora["models"] if m["model"] == "churn")
    assert int(churn.locator("[data-field=promotions]").inner_text()) == figures["promotions"]
    assert (
        churn.locator("[data-field=cfr]")
        .inner_text()
        .startswith(f"{figures['change_failure_rate']:.0%}")
    )
    assert page.locator("dt").count() == 5  # the definitions are on the page

    page.goto(f"{server}/ui/events?model=churn&kind=promoted")
    kinds = page.locator("#events tr[data-kind]").evaluate_all(
        "rows => rows.map(r => r.dataset.kind)"
    )
    assert kinds == ["promoted", "promoted"]


def test_an_action_without_login_or_with_a_forged_csrf_token_changes_nothing(
    project: Path, server: str, pending: str, browser: Any
) -> None:
    from opsloop import Project

    store = Project(project).store
    before = (store.find_deployment("churn"), store.find_approval("churn", pending))
    approve = f"{server}/ui/models/churn/versions/{pending}/approve"

    anonymous = browser.new_context()
    answer = anonymous.request.post(approve, form={"csrf": "x", "back": "/ui/"}, max_redirects=0)
    assert answer.status == 401

    context = browser.new_context()
    page = context.new_page()
    login(page, server, "mallory", TOKEN)
    forged = context.request.post(approve, form={"csrf": "0" * 64, "back": "/ui/"}, max_redirects=0)
    assert forged.status == 403
    missing = context.request.post(f"{server}/ui/models/churn/rollback", form={}, max_redirects=0)
    assert missing.status == 403
    wrong = browser.new_context().new_page()
    wrong.goto(f"{server}/ui/login")
    wrong.fill("input[name=name]", "eve")
    wrong.fill("input[name=token]", "not-the-token")
    wrong.click("form[action$='/login'] button[type=submit]")
    assert "Wrong admin token" in wrong.content()

    after = (store.find_deployment("churn"), store.find_approval("churn", pending))
    assert after == before
    assert after[1] is not None and after[1].status == "pending"
    assert not [e for e in store.list_events("churn", limit=50) if e.actor.startswith("ui:")]
    assert answered_version(server, project) == "2"


def test_approve_and_roll_back_through_the_buttons(
    project: Path, server: str, pending: str, browser: Any
) -> None:
    from opsloop import Project

    store = Project(project).store
    page = browser.new_context().new_page()
    login(page, server, "alice", TOKEN)
    page.goto(f"{server}/ui/models/churn")
    page.click(f"button:has-text('Approve v{pending}')")
    assert f"approved v{pending}" in page.locator(".flash").inner_text()
    approval = store.find_approval("churn", pending)
    assert approval is not None and approval.status == "approved" and approval.actor == "ui:alice"
    deployment = store.find_deployment("churn")
    assert (
        deployment is not None and deployment.version == pending and deployment.actor == "ui:alice"
    )
    wait_for_version(server, project, pending)

    page.goto(f"{server}/ui/models/churn/deployment")
    page.click("button:has-text('Roll back')")
    assert "rolled back: serving v2" in page.locator(".flash").inner_text()
    deployment = store.find_deployment("churn")
    assert deployment is not None and deployment.version == "2"
    rolled = store.list_events("churn", kinds=["rolled_back"], limit=1)
    assert rolled and rolled[-1].actor == "ui:alice"
    wait_for_version(server, project, "2")
    assert status(project)["deployment"]["version"] == "2"

    # as of an instant while v1 served (between the approval and the rollback)
    served = [d for d in store.list_deployments("churn") if d.version == pending][-1]
    at = (served.ts + (deployment.ts - served.ts) / 2).isoformat()
    page.goto(f"{server}/ui/models/churn/deployment")
    page.fill("#asof-form input[name=at]", at)
    page.click("#asof-form button")
    assert page.locator("[data-field=asof-version]").inner_text() == pending
    cli = json.loads(opsloop("status", "-p", str(project), "--at", at, "--json").stdout)
    assert cli["version"] == pending
