"""Online serving: FastAPI app, request validation, hot reload, prediction log.

The names below are imported on first use (PEP 562): a server process imports
`opsloop.serve.gcwatch` to hold garbage collection before FastAPI, pandas and the model's
libraries load (serve/gcwatch.py), and `opsloop.serve.workers` is uvicorn's entry point in
every worker process."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsloop.serve.app import create_app
    from opsloop.serve.context import ServeContext, serve_context
    from opsloop.serve.logwriter import PredictionLogWriter
    from opsloop.serve.runner import run_server
    from opsloop.serve.service import Answer, PredictionService

__all__ = [
    "Answer",
    "PredictionLogWriter",
    "PredictionService",
    "ServeContext",
    "create_app",
    "run_server",
    "serve_context",
]

_WHERE = {
    "Answer": "service",
    "PredictionLogWriter": "logwriter",
    "PredictionService": "service",
    "ServeContext": "context",
    "create_app": "app",
    "run_server": "runner",
    "serve_context": "context",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'opsloop.serve' has no attribute {name!r}")
    return getattr(importlib.import_module(f"opsloop.serve.{_WHERE[name]}"), name)
