"""A result's digest: its summary without what only the window's own report needs
(histogram counts, every distance, quality details, the previous window's per-feature
table). Same keys and shapes as the summary otherwise, so the report's charts over time and
the history view read either. Stored next to the summary (`monitor_results.digest`) so
that listing hundreds of windows decodes a few hundred bytes per window per feature less.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_FEATURE_KEYS = (
    "name",
    "kind",
    "test",
    "statistic",
    "p_value",
    "psi",
    "threshold",
    "drifted",
    "status",
    "verdict",
    "effect",
    "effect_size",
    "floor",
    "n",
)
_TOP_KEYS = (
    "window_start",
    "window_end",
    "n_rows",
    "n_labelled",
    "n_labels_unusable",
    "drifted_features",
    "performance_metric",
    "performance_value",
    "performance_floor",
    "performance_degraded",
    "multivariate",
)


def digest(summary: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: summary[k] for k in _TOP_KEYS if k in summary}
    drift = summary.get("drift")
    if isinstance(drift, Mapping):
        out["drift"] = {
            **{
                k: drift.get(k)
                for k in (
                    "share",
                    "detected",
                    "tested",
                    "drifted_features",
                    "immaterial_features",
                )
            },
            "features": [
                {k: f.get(k) for k in _FEATURE_KEYS}
                for f in drift.get("features", [])
                if isinstance(f, Mapping)
            ],
        }
    est = summary.get("estimated_performance")
    if isinstance(est, Mapping):
        out["estimated_performance"] = {k: v for k, v in est.items() if k != "metrics"}
    quality = summary.get("quality")
    if isinstance(quality, Mapping):
        out["quality"] = {
            "passed": quality.get("passed"),
            "checks": [
                {k: c.get(k) for k in ("check", "feature", "status")}
                for c in quality.get("checks", [])
                if isinstance(c, Mapping) and c.get("status") == "breach"
            ],
        }
    return with_previous(out, summary)


def with_previous(digested: Mapping[str, Any], summary: Mapping[str, Any]) -> dict[str, Any]:
    """`digest(summary)` from `digested`, the digest of `summary` before its `previous`
    (the comparison with the window before) was added: only that part is digested."""
    out = dict(digested)
    out.pop("previous", None)
    previous = summary.get("previous")
    if isinstance(previous, Mapping):
        out["previous"] = {
            k: previous.get(k)
            for k in (
                "id",
                "window_start",
                "window_end",
                "newly_drifted",
                "recovered",
                "drift_share",
                "performance",
            )
            if k in previous
        }
    return out
