"""Engines read the prediction log (joined with late labels): DuckDB by default."""

from opsloop.engines.base import PREDICTION_COLUMNS, Engine

__all__ = ["PREDICTION_COLUMNS", "Engine"]
