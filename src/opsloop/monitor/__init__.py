"""Monitoring: reference profiles, drift statistics, performance on late labels, reports.

`compare(reference, current, ...)` (`opsloop.monitor.datasets`): drift between any two data
sets, without a project; imported on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsloop.monitor.datasets import DatasetComparison, compare

__all__ = ["DatasetComparison", "compare"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from opsloop.monitor import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
