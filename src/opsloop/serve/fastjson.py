"""JSON in and out of the prediction routes with orjson (several times faster than the
standard library both ways).

orjson is strict JSON: it refuses `NaN`/`Infinity` literals, integers beyond 64 bits and
lone surrogates, all of which Python's `json` reads. Such bodies are decoded again with
`json`, so validation can still name the offending field (a 422 saying "x: expected a
finite number, got nan" is more useful than "not valid JSON").
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from starlette.responses import JSONResponse

__all__ = ["FastJSONResponse", "JSONDecodeError", "dumps", "loads"]

JSONDecodeError = json.JSONDecodeError


# orjson reads an integer too long for 64 bits as a float, silently rounding it (10**308 + 1
# becomes 1e308): bodies with such a digit run go to `json`, which keeps the exact integer
# for validation to judge. Long fractions match too and merely take the slower decoder.
_LONG_DIGITS = re.compile(rb"\d{20,}")


def loads(body: bytes) -> Any:
    """Decode a request body; raises `json.JSONDecodeError` or `UnicodeDecodeError`."""
    if _LONG_DIGITS.search(body):
        return json.loads(body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def dumps(content: Any) -> bytes:
    """`content` as JSON bytes (NumPy scalars and arrays included)."""
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class FastJSONResponse(JSONResponse):
    """`JSONResponse` rendered by orjson (NumPy scalars and arrays included)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)
