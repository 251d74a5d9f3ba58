"""The HTML report of a data-set comparison (`opsloop drift --html`): the monitoring
report's feature table, data-quality checks and histograms (`monitor/sections.html`,
`opsloop.monitor.report`), without a model's windows, history or performance."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from opsloop.monitor.report import drifted_first, feature_histograms
from opsloop.templates import render

if TYPE_CHECKING:
    from opsloop.monitor.datasets import DatasetComparison


def render_html(result: DatasetComparison, *, title: str | None = None) -> str:
    """The comparison as one self-contained HTML page (inline CSS and SVG)."""
    data = result.to_dict()
    features = drifted_first(data["drift"]["features"])
    return render(
        "monitor/datasets.html",
        r=data,
        title=title or f"{result.reference} → {result.current}",
        features=features,
        histograms=feature_histograms(features, result.reference_profile),
        generated=f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
    )
