"""The backtest's HTML report (template `backtest/report.html`): realised performance over
time per policy with the floor, one chart per policy marking its promotions (ringed) and
its alarms (grey bars), a summary table and each policy's periods. Self-contained like
every opsloop page (inline CSS and SVG)."""

from __future__ import annotations

from opsloop.backtest.result import BacktestResult, PolicyResult, duration_text
from opsloop.templates import render, safe_svg
from opsloop.templates.svg import Series, line_chart

COLOURS = ("#1f77b4", "#e07b39", "#2ca02c", "#9467bd", "#8c564b", "#d62728", "#17becf")


def _colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


def _labels(result: BacktestResult) -> list[str]:
    first = result.policies[0].periods if result.policies else []
    return [f"{p.start:%Y-%m-%d}" for p in first]


def _policy_chart(result: BacktestResult, policy: PolicyResult, colour: str) -> str:
    promoted = [p.training is not None and p.training.promoted for p in policy.periods]
    return line_chart(
        _labels(result),
        [Series(policy.policy, [p.performance for p in policy.periods], colour, promoted)],
        title=f"{policy.policy}: {result.metric}",
        threshold=result.floor,
        threshold_label="floor" if result.floor is not None else "",
        bars=[len(p.alarms) for p in policy.periods],
        bars_label="alarms",
    )


def render_html(result: BacktestResult) -> str:
    overall = line_chart(
        _labels(result),
        [
            Series(p.policy, [q.performance for q in p.periods], _colour(i))
            for i, p in enumerate(result.policies)
        ],
        title=f"realised {result.metric} per period",
        threshold=result.floor,
        threshold_label="floor" if result.floor is not None else "",
        width=700,
        height=240,
    )
    return render(
        "backtest/report.html",
        r=result,
        policies=[
            {
                "result": p,
                "summary": p.summary(),
                "colour": _colour(i),
                "chart": safe_svg(_policy_chart(result, p, _colour(i))),
            }
            for i, p in enumerate(result.policies)
        ],
        overall=safe_svg(overall),
        every=duration_text(result.every),
        label_delay=duration_text(result.label_delay),
    )
