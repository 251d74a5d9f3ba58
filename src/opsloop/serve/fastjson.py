"""JSON in and out of the prediction routes with orjson (several times faster than the
standard library both ways).

orjson is strict JSON: it refuses `NaN`/`Infinity` literals, integers beyond 64 bits and
lone surrogates, all of which Python's `json` reads. Such bodies are decoded again with
`json`, so validation can still name the offending field (a 422 saying "x: expected a
finite number, got nan" is more useful than "not valid JSON").

Two things no prediction request needs are refused here, before any validation sees the
value (`decode_json` in serve/inputs.py answers them with a 400):

- nesting deeper than `MAX_DEPTH` arrays/objects (`JSONNestingError`): the deepest valid
  request (OIP `{"inputs": [{"data": [[v]]}]}`) has 4 levels; 1,000 levels made the decoder,
  and `repr` in error details, raise RecursionError (a 500).
- a string that is not valid Unicode (`UnstorableTextError`): a lone UTF-16 surrogate such
  as `"\\ud800"` is valid JSON that `json` decodes to a `str` nothing can encode as UTF-8 —
  neither Parquet (the prediction log) nor orjson. orjson refuses it itself, so the check
  runs only on the `json` fallback path, never on the common one.

The depth check on the fast path costs one `bytes.count` per bracket kind; only a body
with more brackets than `MAX_DEPTH` is scanned (its brackets alone, kept by
`bytes.translate`, then a NumPy running sum; brackets inside strings counted too — an
over-estimate), and only one whose estimate passes the bound is walked exactly.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
from starlette.responses import JSONResponse

__all__ = [
    "MAX_DEPTH",
    "FastJSONResponse",
    "JSONDecodeError",
    "JSONNestingError",
    "UnstorableTextError",
    "dumps",
    "loads",
]

JSONDecodeError = json.JSONDecodeError
MAX_DEPTH = 32  # nested arrays/objects in a request body


class JSONNestingError(ValueError):
    """A body nested deeper than MAX_DEPTH."""


class UnstorableTextError(ValueError):
    """A string in the body that is not valid Unicode (a lone surrogate); `where` is its
    path in the body (e.g. `records[0].color`)."""

    def __init__(self, where: str, text: str) -> None:
        self.where = where
        self.text = text.encode("utf-8", "backslashreplace").decode("ascii", "replace")[:40]
        super().__init__(f"{where}: {self.text}")


# orjson reads an integer too long for 64 bits as a float, silently rounding it (10**308 + 1
# becomes 1e308; -2**63 - 1, 19 digits, becomes -9.223372036854776e18): bodies with a run of
# 19 digits or more go to `json`, which keeps the exact integer
# for validation to judge. Long fractions match too and merely take the slower decoder.
# Found by mapping every digit to "1" and everything else to "0" and searching for 19
# "1"s (C loops over the bytes): a regex `\d{20,}` cost more than orjson's whole decode
# (~1.7 vs ~0.6 ms on a 100-record body here; this ~0.1 ms).
_DIGIT_MAP = bytes(49 if 48 <= i <= 57 else 48 for i in range(256))
_LONG_RUN = b"1" * 19  # the shortest integer orjson rounds: -2**63 - 1
# every byte but the four brackets, deleted before the depth is counted
_NOT_BRACKETS = bytes(i for i in range(256) if i not in b"[]{}")
_OPEN = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


def loads(body: bytes) -> Any:
    """Decode a request body; raises `json.JSONDecodeError`, `UnicodeDecodeError`,
    `JSONNestingError` or `UnstorableTextError`."""
    if _may_nest_deeper(body):  # before `json`, which recurses once per level
        raise JSONNestingError(f"more than {MAX_DEPTH} levels")
    if body.translate(_DIGIT_MAP).find(_LONG_RUN) >= 0:
        return _strict(body)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _strict(body)
    return value


def _may_nest_deeper(body: bytes) -> bool:
    """True if `body` certainly or possibly nests deeper than MAX_DEPTH: the bracket depth
    counted over the raw bytes (brackets in strings too) is an upper bound; when it exceeds
    the bound, the exact depth of the parsed value decides."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return False
    brackets = body.translate(None, _NOT_BRACKETS)  # the running depth is over these alone
    depth = np.cumsum(_OPEN[np.frombuffer(brackets, dtype=np.uint8)], dtype=np.int64)
    if depth.max(initial=0) <= MAX_DEPTH:
        return False
    try:
        value = orjson.loads(body)  # orjson's own limit is 1,024 levels; it does not recurse
    except orjson.JSONDecodeError:
        try:
            value = json.loads(body)
        except RecursionError:
            return True
        except ValueError:  # not JSON: the caller's decoder says so
            return False
    return _depth_over(value)


def _depth_over(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in item if isinstance(child, list | dict))
    return False


def _strict(body: bytes) -> Any:
    """`json`'s reading of a body orjson refused, every string checked to be storable."""
    value = json.loads(body)
    _check_text(value)
    return value


def _check_text(value: Any) -> None:
    """Raise UnstorableTextError for the first key or string that UTF-8 cannot encode."""
    stack: list[tuple[Any, str]] = [(value, "body")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            _encodable(item, where)
        elif isinstance(item, dict):
            for key, child in item.items():
                _encodable(key, f"{where} key")
                stack.append((child, f"{where}.{key}" if where != "body" else key))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))


def _encodable(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnstorableTextError(where, text) from None


def dumps(content: Any) -> bytes:
    """`content` as JSON bytes (NumPy scalars and arrays included)."""
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class FastJSONResponse(JSONResponse):
    """`JSONResponse` rendered by orjson (NumPy scalars and arrays included)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
