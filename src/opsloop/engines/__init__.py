"""Engines read the prediction log (joined with late labels): DuckDB by default.

The engine is chosen by name (`stack.engine` in opsloop.yaml) through `create_engine`, which
imports the adapter only when it is chosen, so a heavy engine costs nothing until used. A
new engine is one module with a class that has the `Engine` capabilities, plus one entry in
`ENGINES` (and the name in `StackConfig.engine`).
"""

from __future__ import annotations

import importlib
from typing import Any, cast

from opsloop.engines.base import (
    PREDICTION_COLUMNS,
    Engine,
    ReconstructionErrors,
    WindowProfiler,
    WindowReader,
    WindowSeries,
)
from opsloop.errors import ConfigError

# name → "module:class"; the module is imported by `create_engine` only.
ENGINES: dict[str, str] = {
    "duckdb": "opsloop.engines.duckdb:DuckDBEngine",
    "spark": "opsloop.engines.spark:SparkEngine",
}


def create_engine(name: str, **settings: Any) -> Engine:
    """The engine called `name`, built with `settings` (the adapter's keyword arguments)."""
    target = ENGINES.get(name)
    if target is None:
        raise ConfigError(
            f"unknown engine {name!r}",
            expected="one of " + ", ".join(sorted(ENGINES)),
            got=repr(name),
            fix="set stack.engine in opsloop.yaml to a known engine",
        )
    module, _, cls = target.partition(":")
    return cast(Engine, getattr(importlib.import_module(module), cls)(**settings))


__all__ = [
    "ENGINES",
    "PREDICTION_COLUMNS",
    "Engine",
    "ReconstructionErrors",
    "WindowProfiler",
    "WindowReader",
    "WindowSeries",
    "create_engine",
]
