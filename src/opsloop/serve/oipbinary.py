"""The Open Inference Protocol's binary tensor data extension (KServe v2, Triton), both ways.

A request may carry tensors as raw bytes after its JSON: the header
`Inference-Header-Content-Length: N` says the first N bytes are the JSON inference request;
an input whose `parameters.binary_data_size` is set has no `data` and takes that many of the
following bytes, in input order. Tensors are row-major, little-endian; a BOOL is one byte; a
BYTES element is a 4-byte little-endian length and the bytes. The decoded values are put
back as the input's `data`, so binary and JSON requests go through one validation.

Outputs are sent as binary when the request asks: per output
(`"outputs": [{"name", "parameters": {"binary_data": true}}]`) or for every output not
listed otherwise (`"parameters": {"binary_data_output": true}`, which Triton's client sets
when it names no outputs). A binary output has `parameters.binary_data_size` and no
`data`; the response is the JSON, then the tensors in output order, with the header
`Inference-Header-Content-Length` giving the JSON's length. When `outputs` is given only
those outputs are returned, in that order.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from opsloop.serve.errors import RequestError

HEADER = "Inference-Header-Content-Length"
EXTENSION = "binary_tensor_data"
MAX_INFLATED_BYTES = 10 * 1024 * 1024

_NUMPY: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("u1"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}


def _detail(field: str, expected: str, got: Any) -> dict[str, Any]:
    text = repr(got)
    got_text = text if len(text) <= 80 else text[:77] + "..."
    return {"field": field, "expected": expected, "got": got_text}


def inflate(body: bytes, encoding: str | None) -> bytes:
    """The body without its `Content-Encoding` (gzip or deflate, as Triton's client sends
    with `request_compression_algorithm`), at most MAX_INFLATED_BYTES."""
    if not encoding or encoding == "identity":
        return body
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}.get(encoding.lower())
    if wbits is None:
        raise RequestError(
            415,
            f"unsupported Content-Encoding {encoding!r}",
            [_detail("Content-Encoding", "gzip, deflate or none", encoding)],
        )
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, MAX_INFLATED_BYTES)
    except zlib.error as exc:
        raise RequestError(400, f"the {encoding} request body does not decompress: {exc}") from None
    if inflater.unconsumed_tail:
        raise RequestError(413, f"request body over {MAX_INFLATED_BYTES} bytes once decompressed")
    return out


def split(body: bytes, header_length: str) -> tuple[bytes, bytes]:
    """(JSON header, binary tensors) of a body sent with `Inference-Header-Content-Length`."""
    size = int(header_length) if header_length.strip().isdigit() else -1
    if not 0 < size <= len(body):
        raise RequestError(
            400,
            f"{HEADER} must be the length of the JSON at the start of the body",
            [_detail(HEADER, f"an integer from 1 to {len(body)} (the body length)", header_length)],
        )
    return body[:size], body[size:]


def attach(payload: Any, binary: bytes) -> None:
    """Decode each input's `binary_data_size` bytes (in order) into its `data`."""
    inputs = payload.get("inputs") if isinstance(payload, dict) else None
    if not isinstance(inputs, list):
        return  # parse_oip names what is wrong with the request
    at = 0
    for k, item in enumerate(inputs):
        params = item.get("parameters") if isinstance(item, dict) else None
        if not isinstance(params, dict) or "binary_data_size" not in params:
            continue
        name = item.get("name") if isinstance(item.get("name"), str) else f"inputs[{k}]"
        size = params["binary_data_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RequestError(
                422,
                "invalid binary tensor size",
                [_detail(f"{name}.parameters.binary_data_size", "a byte count ≥ 0", size)],
            )
        if "data" in item:
            raise RequestError(
                422,
                "an input has both binary data and JSON data",
                [_detail(f"{name}.data", "no data with binary_data_size", "data")],
            )
        if at + size > len(binary):
            raise RequestError(
                400,
                "the body ends before the binary tensors the request declares",
                [_detail(f"{name}.parameters.binary_data_size", f"≤ {len(binary) - at}", size)],
            )
        item["data"] = _decode(name, item.get("datatype"), binary[at : at + size])
        at += size
    if at != len(binary):
        raise RequestError(
            400,
            "the body holds more bytes than its inputs' binary_data_size",
            [_detail("body", f"{at} bytes after the JSON", f"{len(binary)} bytes")],
        )


def _decode(name: str, datatype: Any, raw: bytes) -> list[Any]:
    if datatype == "BYTES":
        return _bytes_elements(name, raw)
    dtype = _NUMPY.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise RequestError(
            422,
            "a binary tensor's datatype is not supported",
            [_detail(f"{name}.datatype", "BOOL, BYTES, INT*, UINT* or FP16/32/64", datatype)],
        )
    if len(raw) % dtype.itemsize:
        raise RequestError(
            422,
            "a binary tensor's size is not a whole number of elements",
            [
                _detail(
                    f"{name}.parameters.binary_data_size",
                    f"a multiple of {dtype.itemsize}",
                    len(raw),
                )
            ],
        )
    values = np.frombuffer(raw, dtype=dtype)
    if datatype == "BOOL":
        if (values > 1).any():
            raise RequestError(
                422,
                "a BOOL tensor holds a byte other than 0 or 1",
                [_detail(f"{name}.data", "bytes 0 or 1", int(values.max()))],
            )
        values = values.astype(bool)
    out: list[Any] = values.tolist()
    return out


def _bytes_elements(name: str, raw: bytes) -> list[Any]:
    out: list[Any] = []
    at, end = 0, len(raw)
    while at < end:
        if at + 4 > end:
            break
        (size,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + size > end:
            at = end + 1
            break
        try:
            out.append(raw[at : at + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError(
                422,
                "a BYTES element is not UTF-8 text",
                [_detail(f"{name}.data[{len(out)}]", "UTF-8 text", raw[at : at + size])],
            ) from None
        at += size
    if at != end:
        raise RequestError(
            422,
            "a BYTES tensor is not a sequence of 4-byte lengths and bytes",
            [_detail(f"{name}.data", "length-prefixed elements", f"{len(raw)} bytes")],
        )
    return out


@dataclass(frozen=True)
class Requested:
    """The outputs a request asked for, in order, and whether each is sent as binary."""

    names: tuple[str, ...]
    binary: tuple[bool, ...]


def requested_outputs(payload: Any, available: Sequence[str]) -> Requested:
    """What to return: the request's `outputs` (unknown names are a 400) or all of
    `available`; binary per output's `binary_data`, else the request's
    `binary_data_output`."""
    params = payload.get("parameters") if isinstance(payload, dict) else None
    default = bool(isinstance(params, dict) and params.get("binary_data_output") is True)
    wanted = payload.get("outputs") if isinstance(payload, dict) else None
    if wanted is None:
        return Requested(tuple(available), (default,) * len(available))
    if not isinstance(wanted, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in wanted
    ):
        raise RequestError(
            422,
            "invalid requested outputs",
            [_detail("outputs", 'a list of {"name": ...} objects', wanted)],
        )
    names, binary = [], []
    for o in wanted:
        if o["name"] not in available:
            raise RequestError(
                400,
                f"unexpected inference output {o['name']!r}",
                [_detail("outputs.name", " or ".join(available), o["name"])],
            )
        p = o.get("parameters")
        flag = p.get("binary_data") if isinstance(p, dict) else None
        names.append(o["name"])
        binary.append(default if flag is None else flag is True)
    return Requested(tuple(names), tuple(binary))


def encode(datatype: str, values: Any) -> bytes:
    """`values` as a binary tensor of `datatype` (row-major, little-endian)."""
    if datatype == "BYTES":
        parts = []
        for v in values:
            b = v if isinstance(v, bytes) else str(v).encode("utf-8")
            parts.append(struct.pack("<I", len(b)))
            parts.append(b)
        return b"".join(parts)
    return np.ascontiguousarray(np.asarray(values).astype(_NUMPY[datatype], copy=False)).tobytes()
