"""MLflow's errors, translated by error code where they enter opsloop (like httpx's).

MLflow raises one exception type, ``MlflowException``, whose ``error_code`` is the name of a
``mlflow.protos.databricks_pb2.ErrorCode``; the REST client raises its subclass
``RestException`` with the server's code. A server that cannot be reached is an
``MlflowException`` with code ``INTERNAL_ERROR`` whose ``__context__`` is the ``requests``
error (connection refused, timeout, too many 5xx answers). So:

    RESOURCE_DOES_NOT_EXIST, NOT_FOUND                  -> NotFoundError
    PERMISSION_DENIED, UNAUTHENTICATED, ...UNAUTHORIZED -> RegistryPermissionError
    TEMPORARILY_UNAVAILABLE (SQLite locked), DEADLINE_EXCEEDED, REQUEST_LIMIT_EXCEEDED,
    RESOURCE_EXHAUSTED, ENDPOINT_NOT_FOUND (not an MLflow server), a 5xx answer, a
    transport error in the chain                        -> RegistryUnavailableError
    INVALID_PARAMETER_VALUE, BAD_REQUEST                -> InvalidInputError
    RESOURCE_ALREADY_EXISTS, ALREADY_EXISTS, RESOURCE_CONFLICT, ABORTED -> StateError
    anything else                                       -> StoreError naming the code

Every translation is chained (``raise ... from exc``). MLflow answers a missing alias with
INVALID_PARAMETER_VALUE ("Registered model alias champion not found."): the adapter checks
the model's aliases before it calls that not found (mlflow.py ``find_alias``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from opsloop.errors import (
    InvalidInputError,
    NotFoundError,
    OpsloopError,
    RegistryPermissionError,
    RegistryUnavailableError,
    StateError,
    StoreError,
)
from opsloop.redact import redact

NOT_FOUND = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})
PERMISSION = frozenset({"PERMISSION_DENIED", "UNAUTHENTICATED", "CUSTOMER_UNAUTHORIZED"})
UNAVAILABLE = frozenset(
    {
        "TEMPORARILY_UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "REQUEST_LIMIT_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "ENDPOINT_NOT_FOUND",
    }
)
INVALID = frozenset({"INVALID_PARAMETER_VALUE", "BAD_REQUEST"})
CONFLICT = frozenset({"RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS", "RESOURCE_CONFLICT", "ABORTED"})

_MAX_GOT = 300


def display_uri(uri: str) -> str:
    """`uri` without a password, fit for an error message."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit(parts._replace(netloc=user + host))


def _one_line(text: str) -> str:
    line = redact(" ".join(text.split()))
    return line if len(line) <= _MAX_GOT else line[: _MAX_GOT - 1] + "…"


def _transport_failure(exc: BaseException) -> bool:
    """A connection, timeout or retry-exhaustion error from requests/urllib3 in the chain."""
    import requests

    transport = (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.RetryError,
        requests.exceptions.ChunkedEncodingError,
        ConnectionError,
        TimeoutError,
    )
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, transport):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of a server's answer, if `exc` carries one."""
    from mlflow.exceptions import ERROR_CODE_TO_HTTP_STATUS, RestException

    if isinstance(exc, RestException):  # the status the server answered with
        return int(ERROR_CODE_TO_HTTP_STATUS.get(str(exc.error_code), 500))
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _code(exc: BaseException) -> str | None:
    from mlflow.exceptions import MlflowException

    return str(exc.error_code) if isinstance(exc, MlflowException) else None


def translate(
    exc: BaseException, *, registry_uri: str, action: str, not_found: NotFoundError | None = None
) -> OpsloopError | None:
    """The opsloop error for `exc` raised while `action` ran against `registry_uri`, or
    None when `exc` is neither an MLflow nor a transport error (a bug: let it propagate)."""
    import requests

    code = _code(exc)
    if code is None and _database_error(exc):
        return _database(exc, registry_uri, action)
    if code is None and not isinstance(exc, requests.exceptions.RequestException):
        return None
    status = _http_status(exc)
    where = display_uri(registry_uri)
    got = _one_line(f"{code or type(exc).__name__}: {getattr(exc, 'message', None) or exc}")
    if code in NOT_FOUND or (code is None and status == 404):
        return not_found or NotFoundError(f"cannot {action}: not found in the registry", got=got)
    if code in PERMISSION or status in (401, 403):
        return RegistryPermissionError(
            f"the model registry at {where} refused to {action}",
            expected="credentials that may read and write this model",
            got=got,
            fix="set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or "
            "MLFLOW_TRACKING_TOKEN) for a user with access to the model",
        )
    if code in UNAVAILABLE or _transport_failure(exc) or (status is not None and status >= 500):
        return RegistryUnavailableError(
            f"the model registry at {where} is unavailable: cannot {action}",
            expected="a reachable MLflow tracking server or database",
            got=got,
            fix="start the tracking server or correct tracking_uri/registry_uri in the "
            "stack; MLFLOW_HTTP_REQUEST_MAX_RETRIES and MLFLOW_HTTP_REQUEST_TIMEOUT set how "
            "long opsloop waits",
        )
    if code in INVALID:
        return InvalidInputError(f"the model registry at {where} refused to {action}", got=got)
    if code in CONFLICT:
        return StateError(f"the model registry at {where} refused to {action}", got=got)
    return StoreError(f"the model registry at {where} failed to {action}", got=got)


def _database_error(exc: BaseException) -> bool:
    """A SQLAlchemy error: MLflow opens a database-backed tracking store (`postgresql://`,
    `mysql://`, `sqlite://`) with SQLAlchemy and lets its errors through untranslated."""
    return type(exc).__module__.split(".")[0] == "sqlalchemy"


def _database(exc: BaseException, registry_uri: str, action: str) -> OpsloopError:
    """One line, no password, for a tracking database that cannot be opened or queried."""
    import sqlalchemy.exc as sa_exc

    where = display_uri(registry_uri)
    original = getattr(exc, "orig", None) or exc
    got = _one_line(
        f"{type(original).__name__}: {str(original).splitlines()[0] if str(original) else ''}"
    )
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return RegistryUnavailableError(
            f"the model registry at {where} is unavailable: cannot {action}",
            expected="a reachable tracking database",
            got=got,
            fix="start the database or correct tracking_uri/registry_uri in the stack",
        )
    return StoreError(f"the model registry at {where} failed to {action}", got=got)


@contextmanager
def translated(
    registry_uri: str, action: str, *, not_found: NotFoundError | None = None
) -> Iterator[None]:
    """Run the block; raise MLflow and transport errors as opsloop errors, chained."""
    try:
        yield
    except OpsloopError:
        raise
    except Exception as exc:
        error = translate(exc, registry_uri=registry_uri, action=action, not_found=not_found)
        if error is None:
            raise
        raise error from exc
