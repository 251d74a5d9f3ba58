"""Every error, FastAPI's own included, answered in the one shape of serve/errors.py.

FastAPI answers a body it cannot parse, a parameter of the wrong type or an unknown path
with `{"detail": ...}`; these handlers turn those into `RequestError`s, and every
`OpsloopError` (and any other exception, as a 500) into the server's error body.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from opsloop.errors import OpsloopError
from opsloop.serve.errors import InternalError, RequestError, error_body, error_status
from opsloop.serve.inputs import MAX_DETAILS, _detail

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

log = logging.getLogger("opsloop.serve")


def _field(error: dict[str, Any]) -> dict[str, Any]:
    if error.get("type") == "json_invalid":  # loc ("body", position)
        return _detail("body", "valid JSON", error.get("ctx", {}).get("error", "?"))
    where = ".".join(str(part) for part in error.get("loc", ())) or "request"
    return _detail(where, str(error.get("msg", "a valid value")), error.get("input"))


def validation_error(exc: RequestValidationError) -> RequestError:
    details = [_field(e) for e in list(exc.errors())[:MAX_DETAILS]]
    fields = ", ".join(dict.fromkeys(d["field"] for d in details))
    return RequestError(422, f"invalid request: {fields}", details)


def validation_body(exc: RequestValidationError) -> dict[str, object]:
    return error_body(validation_error(exc))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_body(exc), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        body = error_body(RequestError(exc.status_code, str(exc.detail)))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(OpsloopError)
    async def _opsloop(_: Request, exc: OpsloopError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=error_status(exc))

    @app.exception_handler(Exception)
    async def _server_error(_: Request, exc: Exception) -> JSONResponse:
        text = str(exc)
        text = text if len(text) <= 300 else text[:297] + "..."  # bounded, like every detail
        error = InternalError(f"internal error: {type(exc).__name__}: {text}")
        return JSONResponse(error_body(error), status_code=500)
