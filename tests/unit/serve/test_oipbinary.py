"""The binary tensor data extension's decoding and encoding: every datatype round-trips, and
a malformed body is a 4xx that names the field (the real client: tests/integration/
test_triton_client.py)."""

from __future__ import annotations

import gzip
import struct
import zlib
from typing import Any

import numpy as np
import pytest

from opsloop.serve import oipbinary
from opsloop.serve.errors import RequestError


def _bytes_tensor(values: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


@pytest.mark.parametrize(
    ("datatype", "values"),
    [
        ("FP64", [0.5, -1e300, 3.0]),
        ("FP32", [0.5, -2.25]),
        ("FP16", [1.5, -2.0]),
        ("INT64", [1, -(2**62), 7]),
        ("INT8", [-128, 127]),
        ("UINT32", [0, 2**32 - 1]),
        ("BOOL", [True, False, True]),
        ("BYTES", ["red", "", "grün"]),
    ],
)
def test_every_datatype_round_trips(datatype: str, values: list[Any]) -> None:
    raw = oipbinary.encode(datatype, values)
    payload = {
        "inputs": [
            {
                "name": "t",
                "datatype": datatype,
                "shape": [len(values)],
                "parameters": {"binary_data_size": len(raw)},
            }
        ]
    }
    oipbinary.attach(payload, raw)
    assert payload["inputs"][0]["data"] == values


def test_inputs_take_their_bytes_in_order_and_json_inputs_are_left_alone() -> None:
    a = np.array([1.0, 2.0]).tobytes()
    b = _bytes_tensor([b"x", b"yz"])
    payload = {
        "inputs": [
            {"name": "a", "datatype": "FP64", "parameters": {"binary_data_size": 16}},
            {"name": "j", "datatype": "INT64", "data": [5, 6]},
            {"name": "b", "datatype": "BYTES", "parameters": {"binary_data_size": 11}},
        ]
    }
    oipbinary.attach(payload, a + b)
    assert [i["data"] for i in payload["inputs"]] == [[1.0, 2.0], [5, 6], ["x", "yz"]]


def _one(datatype: str, size: Any, **extra: Any) -> dict[str, Any]:
    item = {"name": "t", "datatype": datatype, "parameters": {"binary_data_size": size}}
    return {"inputs": [{**item, **extra}]}


@pytest.mark.parametrize(
    ("payload", "binary", "status", "fragment"),
    [
        (_one("FP64", 8), b"", 400, "ends before"),
        (_one("FP64", 8), b"\0" * 12, 400, "more bytes"),
        (_one("FP64", 7), b"\0" * 7, 422, "whole number of elements"),
        (_one("FP64", -1), b"", 422, "invalid binary tensor size"),
        (_one("FP64", 8, data=[1.0]), b"\0" * 8, 422, "both binary data and JSON"),
        (_one("BF16", 2), b"\0\0", 422, "not supported"),
        (_one("BOOL", 1), b"\x02", 422, "other than 0 or 1"),
        (_one("BYTES", 6), struct.pack("<I", 9) + b"ab", 422, "4-byte lengths"),
        (_one("BYTES", 6), struct.pack("<I", 2) + b"\xff\xfe", 422, "UTF-8"),
    ],
)
def test_malformed_binary_tensors_are_4xx(
    payload: dict[str, Any], binary: bytes, status: int, fragment: str
) -> None:
    with pytest.raises(RequestError) as caught:
        oipbinary.attach(payload, binary)
    assert caught.value.status == status and fragment in caught.value.message
    assert caught.value.details  # names the field


@pytest.mark.parametrize("header", ["0", "abc", "999", "-3"])
def test_a_header_length_outside_the_body_is_a_400(header: str) -> None:
    with pytest.raises(RequestError) as caught:
        oipbinary.split(b'{"inputs": []}', header)
    assert caught.value.status == 400 and oipbinary.HEADER in caught.value.message


def test_compressed_bodies_and_their_limits() -> None:
    body = b'{"inputs": []}' * 10
    assert oipbinary.inflate(gzip.compress(body), "gzip") == body
    assert oipbinary.inflate(zlib.compress(body), "deflate") == body
    assert oipbinary.inflate(body, None) == body
    for encoding, data, status in (
        ("br", body, 415),
        ("gzip", b"not gzip", 400),
        ("gzip", gzip.compress(b"\0" * (oipbinary.MAX_INFLATED_BYTES + 1)), 413),
    ):
        with pytest.raises(RequestError) as caught:
            oipbinary.inflate(data, encoding)
        assert caught.value.status == status


def test_requested_outputs() -> None:
    names = ("prediction", "score", "prediction_id")
    every = oipbinary.requested_outputs({"inputs": []}, names)
    assert every.names == names and every.binary == (False, False, False)
    binary = oipbinary.requested_outputs({"parameters": {"binary_data_output": True}}, names)
    assert binary.binary == (True, True, True)
    some = oipbinary.requested_outputs(
        {
            "parameters": {"binary_data_output": True},
            "outputs": [
                {"name": "score", "parameters": {"binary_data": False}},
                {"name": "prediction"},
            ],
        },
        names,
    )
    assert some.names == ("score", "prediction") and some.binary == (False, True)
    for bad, status in (({"outputs": "score"}, 422), ({"outputs": [{"name": "proba"}]}, 400)):
        with pytest.raises(RequestError) as caught:
            oipbinary.requested_outputs(bad, names)
        assert caught.value.status == status
