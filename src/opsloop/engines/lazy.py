"""`LazyEngine`: the project's engine, opened by its first use.

A batch prediction on DuckDB reads its input through its own connection and never the
prediction log, yet its runtime carries an engine; opening the DuckDB engine imports
pandas and the engine's modules (~0.4 s of `opsloop predict`'s start-up, which is measured
against a raw loop: docs/benchmarks.md). The proxy opens it when an attribute is first
asked for (the Spark and ranking paths, a monitor run), once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opsloop.core.once import Once

if TYPE_CHECKING:
    from opsloop.engines.base import Engine


class LazyEngine:
    """Delegates every attribute to the engine `open()` returns, made once."""

    def __init__(self, open: Callable[[], Engine]) -> None:
        self._engine = Once(open)

    @property
    def opened(self) -> bool:
        return self._engine.made

    @property
    def target(self) -> Engine:
        return self._engine.get()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)
