"""Online serving: FastAPI app, request validation, hot reload, prediction log."""

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
