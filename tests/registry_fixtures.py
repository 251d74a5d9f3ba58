"""Registry conformance fixtures: the in-memory registry, MLflow on a SQLite file, and a real
`mlflow server` process (SQLite backend, proxied artifacts, all under a temporary folder).
tests/integration/registry/ runs the suite over all three."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from functools import cache

import pytest

from opsloop.data.features import FeatureSpec
from opsloop.registry.base import ModelRegistry, TrainingRecord

SERVER = pytest.param("server", marks=pytest.mark.slow)
START_TIMEOUT_S = 180.0  # `mlflow server` takes ~20 s to answer on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URI of a real `mlflow server` started for this session; fails if it cannot start."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination", str(root / "artifacts"),
            "--serve-artifacts",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: teardown kills the workers too
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"`mlflow server` exited with {proc.returncode} before it answered:\n"
                    + (root / "server.log").read_text()[-3000:]
                )
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"`mlflow server` did not answer on {uri} within {START_TIMEOUT_S:.0f} s:\n"
                    + (root / "server.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        yield uri
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@pytest.fixture(scope="session")  # one per run: every test names its own model
def sqlite_registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    from opsloop.registry.mlflow import MlflowRegistry

    root = tmp_path_factory.mktemp("mlflow-sqlite")
    registry = MlflowRegistry(
        f"sqlite:///{root / 'mlflow.db'}", artifact_location=str(root / "artifacts")
    )
    registry.initialise()
    return registry


@pytest.fixture(params=["memory", "sqlite", SERVER])
def registry(request: pytest.FixtureRequest) -> ModelRegistry:
    if request.param == "memory":
        from opsloop.registry.memory import MemoryRegistry

        return MemoryRegistry()
    if request.param == "sqlite":
        registry: ModelRegistry = request.getfixturevalue("sqlite_registry")
        return registry
    from opsloop.registry.mlflow import MlflowRegistry

    return MlflowRegistry(request.getfixturevalue("mlflow_server"))


@pytest.fixture
def name() -> str:
    """A model name of its own for each test (the MLflow backends are shared)."""
    return f"conf-{uuid.uuid4().hex[:8]}"


FEATURES = [
    FeatureSpec("x1", "numeric", "float64", nullable=False),
    FeatureSpec("x2", "numeric", "float64", nullable=False),
]


@cache
def _frame_and_estimator() -> tuple[object, object]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"x1": rng.normal(size=60), "x2": rng.normal(size=60)})
    frame["label"] = (frame["x1"] + 0.5 * frame["x2"] > 0).astype(int)
    estimator = LogisticRegression().fit(frame[["x1", "x2"]], frame["label"])
    return frame, estimator


def training_record(name: str, *, tags: dict[str, str] | None = None) -> TrainingRecord:
    import pandas as pd

    frame, estimator = _frame_and_estimator()
    assert isinstance(frame, pd.DataFrame)
    return TrainingRecord(
        model_name=name,
        estimator=estimator,
        features=list(FEATURES),
        task="binary_classification",
        params={"C": 1.0},
        metrics={"holdout_roc_auc": 0.9},
        tags={"opsloop.data_fingerprint": "f" * 64, **(tags or {})},
        target="label",
        dataset=frame,
        dataset_digest="d" * 64,
        input_example=frame[["x1", "x2"]].head(5),
        artifacts={"schema.yaml": "columns: [x1, x2]\n"},
        experiment=name,
    )


def sample_frame() -> object:
    frame, _ = _frame_and_estimator()
    return frame


def unused_uri() -> str:
    """An http URI where nothing listens (a tracking server that is down)."""
    return f"http://127.0.0.1:{free_port()}"
