"""A window's result against the previous window's: what changed since the last look.

The reference comparison answers "is this window unlike training?"; this one answers "what
is new?": per feature the change in the verdict statistic, the features that drifted in
this window but not in the previous one (newly drifted) and the reverse (recovered), and
the change in drift share, performance, estimated performance and the multivariate score.
The previous window is the stored result of the same model *and version* (same reference)
whose window ends last before this one ends (`OpsStore.find_previous_monitor`).

Stored under the summary key ``previous`` (docs/monitoring.md#windows-and-history).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Summary = Mapping[str, Any]


def _change(now: Any, before: Any) -> float | None:
    if (
        isinstance(now, int | float)
        and isinstance(before, int | float)
        and not isinstance(now, bool)
        and not isinstance(before, bool)
    ):
        return float(now) - float(before)
    return None


def _pair(now: Any, before: Any) -> dict[str, Any]:
    return {"value": now, "previous": before, "change": _change(now, before)}


def _features(summary: Summary) -> dict[str, Mapping[str, Any]]:
    return {
        f["name"]: f
        for f in (summary.get("drift") or {}).get("features", [])
        if isinstance(f, Mapping) and "name" in f
    }


def _judged(f: Mapping[str, Any] | None) -> bool:
    return f is not None and f.get("status") != "insufficient_data"


def compare_windows(
    current: Summary,
    previous: Summary,
    *,
    previous_id: int | None = None,
    previous_version: str | None = None,
) -> dict[str, Any]:
    """The ``previous`` summary key: `current` (a summary) against `previous` (the previous
    window's summary). Features judged in only one of the two windows are listed with
    ``change: null``; only features judged in both can be newly drifted or recovered."""
    now_f, before_f = _features(current), _features(previous)
    features = []
    newly, recovered = [], []
    for name, f in now_f.items():
        p = before_f.get(name)
        both = _judged(f) and _judged(p)
        same_test = both and p is not None and p.get("test") == f.get("test")
        drifted, was = bool(f.get("drifted")), bool(p and p.get("drifted"))
        if both and drifted and not was:
            newly.append(name)
        if both and was and not drifted:
            recovered.append(name)
        features.append(
            {
                "name": name,
                "test": f.get("test"),
                "previous_test": None if p is None else p.get("test"),
                "statistic": f.get("statistic"),
                "previous_statistic": None if p is None else p.get("statistic"),
                # a change of method (auto switches with the window's size) is not a change
                "change": _change(f.get("statistic"), p.get("statistic"))
                if same_test and p is not None
                else None,
                "drifted": drifted,
                "previously_drifted": was,
            }
        )
    out: dict[str, Any] = {
        "id": previous_id,
        "version": previous_version,
        "window_start": previous.get("window_start"),
        "window_end": previous.get("window_end"),
        "n_rows": _pair(current.get("n_rows"), previous.get("n_rows")),
        "drift_share": _pair(
            (current.get("drift") or {}).get("share"), (previous.get("drift") or {}).get("share")
        ),
        "drift_detected": {
            "value": (current.get("drift") or {}).get("detected"),
            "previous": (previous.get("drift") or {}).get("detected"),
        },
        "newly_drifted": newly,
        "recovered": recovered,
        "features": features,
    }
    if current.get("performance_metric") == previous.get("performance_metric"):
        out["performance"] = {
            "metric": current.get("performance_metric"),
            **_pair(current.get("performance_value"), previous.get("performance_value")),
            "n_labelled": current.get("n_labelled"),
            "previous_n_labelled": previous.get("n_labelled"),
            "degraded": current.get("performance_degraded"),
            "previously_degraded": previous.get("performance_degraded"),
        }
    for key in ("estimated_performance", "multivariate"):
        now_k, before_k = current.get(key), previous.get(key)
        if isinstance(now_k, Mapping) and isinstance(before_k, Mapping):
            out[key] = _pair(now_k.get("value"), before_k.get("value"))
    now_q, before_q = current.get("quality"), previous.get("quality")
    if isinstance(now_q, Mapping) and isinstance(before_q, Mapping):
        out["quality"] = {
            "passed": now_q.get("passed"),
            "previously_passed": before_q.get("passed"),
            "new_breaches": _new_breaches(now_q, before_q),
        }
    return out


def _new_breaches(now: Mapping[str, Any], before: Mapping[str, Any]) -> list[str]:
    def breaches(q: Mapping[str, Any]) -> set[str]:
        return {
            f"{c.get('check')}:{c.get('feature') or '*'}"
            for c in q.get("checks", [])
            if isinstance(c, Mapping) and c.get("status") == "breach"
        }

    return sorted(breaches(now) - breaches(before))
