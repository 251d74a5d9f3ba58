"""FastAPI's own errors in the server's error shape.

FastAPI answers a body it cannot parse, a parameter of the wrong type or an unknown path with
`{"detail": ...}`; the server answers everything else with `{"error", "details": [{"field",
"expected", "got"}]}`. These handlers give FastAPI's errors that shape too, so a client (and
the OpenAPI schema) sees one error body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from opsloop.serve.inputs import MAX_DETAILS, _detail

if TYPE_CHECKING:
    from fastapi import FastAPI, Request


def _field(error: dict[str, Any]) -> dict[str, Any]:
    if error.get("type") == "json_invalid":  # loc ("body", position)
        return _detail("body", "valid JSON", error.get("ctx", {}).get("error", "?"))
    where = ".".join(str(part) for part in error.get("loc", ())) or "request"
    return _detail(where, str(error.get("msg", "a valid value")), error.get("input"))


def validation_body(exc: RequestValidationError) -> dict[str, object]:
    details = [_field(e) for e in list(exc.errors())[:MAX_DETAILS]]
    fields = ", ".join(dict.fromkeys(d["field"] for d in details))
    return {"error": f"invalid request: {fields}", "details": details}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_body(exc), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail), "details": []},
            status_code=exc.status_code,
            headers=exc.headers,
        )
