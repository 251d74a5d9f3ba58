"""Online serving: FastAPI app, request validation, hot reload, prediction log."""

from opsloop.serve.app import ServeContext, create_app
from opsloop.serve.logwriter import PredictionLogWriter
from opsloop.serve.runner import run_server

__all__ = ["PredictionLogWriter", "ServeContext", "create_app", "run_server"]
