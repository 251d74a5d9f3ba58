"""`opsloop backtest` end to end: the sandbox on MLflow (SQLite), the HTML and JSON reports,
and the errors a user gets for bad options."""

from __future__ import annotations

import json

from historyproject import write_history_project
from tinyproject import run_cli


def test_backtest_writes_html_matching_the_json(tmp_path):
    from opsloop.templates import fmt

    root = write_history_project(tmp_path / "shop", per_day=30)
    html, data = tmp_path / "bt.html", tmp_path / "bt.json"
    code, out = run_cli(
        "backtest", "--project", str(root), "--from", "2022-02-15", "--to", "2022-03-29",
        "--every", "1w", "--policy", "never", "--policy", "drift", "--label-delay", "3d",
        "--html", str(html), "--json-file", str(data),
    )  # fmt: skip
    assert code == 0, out
    assert "never" in out and "drift" in out and f"wrote {html}" in out
    result = json.loads(data.read_text())
    page = html.read_text()
    assert [p["policy"] for p in result["policies"]] == ["never", "drift"]
    for policy in result["policies"]:
        row = page.split(f'data-policy="{policy["policy"]}"')[1].split("</tr>")[0]
        assert fmt(policy["mean_performance"]) in row
        assert f"<td>{policy['retrains']}</td>" in row
        assert f"<td>{policy['alarms']}</td>" in row
        assert f"<td>{policy['compute']['rows_scored']}</td>" in row
        assert len(policy["periods"]) == 6
    drift = result["policies"][1]
    assert (
        drift["retrains"] >= 1
        and drift["mean_performance"] > result["policies"][0]["mean_performance"]
    )
    assert not (root / ".opsloop").exists()  # the project's own backends never opened


def test_bad_options_are_one_clear_line(tmp_path):
    root = write_history_project(tmp_path / "shop", per_day=5)
    cases = [
        (["--from", "2022-03-01", "--to", "2022-02-01"], "--to must be after --from"),
        (["--from", "2022-02-01", "--to", "2022-03-01", "--policy", "often"], "unknown policy"),
        (["--from", "2022-02-01", "--to", "2022-02-03"], "shorter than one period"),
        (["--from", "yesterday-ish", "--to", "2022-02-03"], "--from: cannot read"),
        (["--from", "2022-02-01", "--to", "2022-03-01", "--every", "often"], "--every:"),
    ]
    for args, message in cases:
        code, out = run_cli("backtest", "--project", str(root), *args)
        assert code == 1, out
        assert message in out and "Traceback" not in out
