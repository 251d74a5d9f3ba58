"""What the prediction routers share: the body read with a size limit, the routing key."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request

from opsloop.serve.errors import RequestError
from opsloop.serve.rows import ModelInput

MAX_BODY_BYTES = 10 * 1024 * 1024


def body_reader(request: Request) -> Callable[[], Awaitable[bytes]]:
    """Read the body when the service asks (after the model is checked), at most
    MAX_BODY_BYTES (413 beyond)."""

    async def read() -> bytes:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise RequestError(413, f"request body over {MAX_BODY_BYTES} bytes")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise RequestError(413, f"request body over {MAX_BODY_BYTES} bytes")
        return body

    return read


def sticky_key(request: Request, header: str) -> str | None:
    """The request's routing key during a rollout (None: its first prediction id)."""
    return request.headers.get(header) or None


def with_request_id(parsed: tuple[ModelInput, list[str]]) -> tuple[ModelInput, list[str], str]:
    return parsed[0], parsed[1], uuid.uuid4().hex
