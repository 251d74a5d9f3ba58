"""Real fitted scikit-learn models and a polling helper for the server tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from opsloop.data.features import FeatureSpec
from opsloop.registry.base import LoadedModel

FEATURES = [
    FeatureSpec("x", "numeric", "float64", nullable=False),
    FeatureSpec("color", "categorical", "string", nullable=True, categories=("blue", "red")),
]


def fitted(seed: int) -> LoadedModel:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=200)
    color = rng.choice(["red", "blue"], 200)
    y = (x + (color == "red") + rng.normal(scale=0.5, size=200) > 0.5).astype(int)
    encode = ColumnTransformer(
        [("c", OneHotEncoder(handle_unknown="ignore"), ["color"])], remainder="passthrough"
    )
    est = make_pipeline(encode, LogisticRegression()).fit(pd.DataFrame({"x": x, "color": color}), y)
    return LoadedModel("m", str(seed), est, FEATURES, "binary_classification")


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll until `predicate()` holds; a server that is not answering yet counts as not."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_prediction_log(project_root: Path, model: str = "tiny") -> pd.DataFrame:
    """Every row a server logged for `model` under the project's embedded-default log (an
    empty frame before the first flush: a fast server answers 50 requests within one
    flush interval)."""
    files = list((project_root / ".opsloop" / "predictions").glob(f"model={model}/*/*/*.parquet"))
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


@contextmanager
def server(root: Path, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], httpx.Client]]:
    """A real `opsloop serve` of the project at `root`, ready, and a client for it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsloop", "serve", "-p", str(root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_for(lambda: client.get("/v2/health/ready").status_code == 200)
        yield proc, client
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()
    return err.decode()


def predict(client: httpx.Client, pid: str) -> httpx.Response:
    record = {"row_id": pid, "x1": 0.3, "x2": -0.2, "color": "red"}
    return client.post("/predict", json={"records": [record]})
