"""The server's one error model: every 4xx/5xx body has the same shape on every route,

    {"error": str, "type": str, "expected": str|null, "got": str|null, "fix": str|null,
     "details": [{"field", "expected", "got"}, ...]}

`error` is the message, `type` the `OpsloopError` subclass, `expected`/`got`/`fix` what
the error says (for a request with one field at fault, that field's), `details` one entry
per field at fault (empty when the problem is not a field's). Clients that read `error`
and `details` (the prediction routes' old shape) or `error`, `type`, `expected`, `got`,
`fix` (the management API's) keep working.
"""

from __future__ import annotations

from typing import Any

from opsloop.errors import (
    ArtifactIntegrityError,
    InvalidInputError,
    NotFoundError,
    OpsloopError,
    RegistryPermissionError,
    RegistryUnavailableError,
    StateError,
)


class RequestError(OpsloopError, ValueError):
    """A request the server will not answer: its HTTP `status` and per-field `details`."""

    def __init__(
        self,
        status: int,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        fix: str | None = None,
    ) -> None:
        self.status = status
        self.details = details or []
        one = self.details[0] if len(self.details) == 1 else None
        super().__init__(
            message,
            expected=None if one is None else str(one.get("expected")),
            got=None if one is None else str(one.get("got")),
            fix=fix,
        )

    @property
    def message(self) -> str:  # the text clients have always read in `error`
        return self.what if self.fix is None else f"{self.what}; {self.fix}"

    def body(self) -> dict[str, Any]:
        return error_body(self)


class InternalError(OpsloopError, RuntimeError):
    """An unexpected failure inside the server (a 500)."""


def error_status(exc: OpsloopError) -> int:
    if isinstance(exc, RequestError):
        return exc.status
    if isinstance(exc, RegistryUnavailableError):
        return 503
    if isinstance(exc, RegistryPermissionError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, StateError | ArtifactIntegrityError):
        return 409
    if isinstance(exc, InvalidInputError):
        return 422
    return 400


def error_body(exc: OpsloopError) -> dict[str, Any]:
    """`exc` in the one error shape (see the module docstring)."""
    return {**exc.to_dict(), "details": list(getattr(exc, "details", None) or [])}
