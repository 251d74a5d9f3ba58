"""Triton's Python HTTP client (`tritonclient[http]`, a widely used Open Inference Protocol
client) against a real `opsloop serve` process: health, server and model metadata, and
inference with JSON tensors and with the binary tensor data extension (inputs and outputs
binary, mixed, and compressed requests) — the answers equal the model's own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from opsloop.project import Project
from serve_fixtures import free_port, wait_for
from tinyproject import write_tiny_project

pytestmark = pytest.mark.slow

X1 = np.array([0.3, -1.2, 2.5, 0.0], dtype=np.float64)
X2 = np.array([1.0, 0.5, -0.7, 0.2], dtype=np.float32)
COLOR = np.array([b"red", b"blue", b"green", b"violet"], dtype=object)  # one unseen
IDS = np.array([b"t-1", b"t-2", b"t-3", b"t-4"], dtype=object)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Project]]:
    root = write_tiny_project(tmp_path_factory.mktemp("triton") / "tiny")
    project = Project(root)
    project.train()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsloop", "serve", "-p", str(root), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"127.0.0.1:{port}"
    client = triton.InferenceServerClient(url, network_timeout=30.0)
    try:
        wait_for(lambda: _ready(client), 60)
        yield url, project
    finally:
        client.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGTERM), err.decode()


def _ready(client: triton.InferenceServerClient) -> bool:
    try:
        return bool(client.is_server_ready())
    except Exception:
        return False


def inputs(binary: bool) -> list[triton.InferInput]:
    out = []
    for name, values, datatype in (
        ("x1", X1, "FP64"),
        ("x2", X2, "FP32"),
        ("color", COLOR, "BYTES"),
        ("row_id", IDS, "BYTES"),
    ):
        tensor = triton.InferInput(name, list(values.shape), datatype)
        tensor.set_data_from_numpy(values, binary_data=binary)
        out.append(tensor)
    return out


def expected(project: Project) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    model = project.registry.load("tiny", "1")
    frame = pd.DataFrame(
        {
            "x1": X1,
            "x2": X2.astype(np.float64),
            "color": pd.Series([c.decode() for c in COLOR], dtype=object),
        }
    )
    pred, score = model.predict_frame(frame)
    assert score is not None
    return pred, score


def check(result: Any, project: Project, *, with_score: bool = True) -> None:
    pred, score = expected(project)
    got = result.as_numpy("prediction")
    assert got.dtype == np.int64 and np.array_equal(got, pred)
    if with_score:
        assert np.allclose(result.as_numpy("score"), score, rtol=0, atol=1e-9)
    ids = result.as_numpy("prediction_id")
    assert [i.decode() if isinstance(i, bytes) else i for i in ids] == [i.decode() for i in IDS]


def test_health_and_metadata(served: tuple[str, Project]) -> None:
    url, _ = served
    with triton.InferenceServerClient(url) as client:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("tiny") and client.is_model_ready("tiny", "1")
        server = client.get_server_metadata()
        assert server["name"] == "opsloop" and "binary_tensor_data" in server["extensions"]
        meta = client.get_model_metadata("tiny")
        assert meta["versions"] == ["1"]
        assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {
            "x1": "FP64",
            "x2": "FP64",
            "color": "BYTES",
        }
        types = {o["name"]: o["datatype"] for o in meta["outputs"]}
        assert types == {"prediction": "INT64", "score": "FP64", "prediction_id": "BYTES"}
        with pytest.raises(InferenceServerException):
            client.get_model_metadata("nope")


@pytest.mark.parametrize("binary_in", [False, True], ids=["json-in", "binary-in"])
@pytest.mark.parametrize("binary_out", [False, True], ids=["json-out", "binary-out"])
def test_infer(served: tuple[str, Project], binary_in: bool, binary_out: bool) -> None:
    url, project = served
    outputs = [
        triton.InferRequestedOutput(name, binary_data=binary_out)
        for name in ("prediction", "score", "prediction_id")
    ]
    with triton.InferenceServerClient(url) as client:
        result = client.infer("tiny", inputs(binary_in), outputs=outputs, request_id="r-9")
        check(result, project)
        response = result.get_response()
        assert response["id"] == "r-9" and response["model_version"] == "1"
        binary = ["binary_data_size" in (o.get("parameters") or {}) for o in response["outputs"]]
        assert binary == [binary_out] * 3


def test_default_outputs_are_binary_and_a_subset_can_be_asked(
    served: tuple[str, Project],
) -> None:
    url, project = served
    with triton.InferenceServerClient(url) as client:
        everything = client.infer("tiny", inputs(True), model_version="1")  # all, binary
        check(everything, project)
        only = client.infer(
            "tiny",
            inputs(False),
            outputs=[
                triton.InferRequestedOutput("prediction_id", binary_data=False),
                triton.InferRequestedOutput("prediction", binary_data=True),
            ],
        )
        assert [o["name"] for o in only.get_response()["outputs"]] == [
            "prediction_id",
            "prediction",
        ]
        check(only, project, with_score=False)
        with pytest.raises(InferenceServerException, match="unexpected inference output"):
            client.infer("tiny", inputs(True), outputs=[triton.InferRequestedOutput("proba")])


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_binary_request(served: tuple[str, Project], algorithm: str) -> None:
    url, project = served
    with triton.InferenceServerClient(url) as client:
        result = client.infer("tiny", inputs(True), request_compression_algorithm=algorithm)
        check(result, project)


def test_a_bad_binary_request_is_a_clear_4xx(served: tuple[str, Project]) -> None:
    url, _ = served
    bad = triton.InferInput("x1", [4], "FP64")
    bad.set_data_from_numpy(X1, binary_data=True)
    bad._raw_data = bad._raw_data[:-3]  # a truncated tensor, as a broken client would send
    bad._parameters["binary_data_size"] = len(bad._raw_data)
    with (
        triton.InferenceServerClient(url) as client,
        pytest.raises(InferenceServerException, match="whole number of elements"),
    ):
        client.infer("tiny", [bad, *inputs(True)[1:]])
