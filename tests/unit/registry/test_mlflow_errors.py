"""MLflow's errors are translated by error code, chained, and never read as "not found"
unless MLflow said so. The exceptions are MLflow's own, built as its REST client builds them."""

from __future__ import annotations

import pytest

from opsloop.errors import (
    InvalidInputError,
    NotFoundError,
    OpsloopError,
    RegistryPermissionError,
    RegistryUnavailableError,
    StateError,
    StoreError,
)
from opsloop.registry._mlflow_errors import display_uri, translate, translated

URI = "http://user:s3cret@mlflow.internal:5000"


def rest(code: str, message: str = "boom") -> Exception:
    from mlflow.exceptions import RestException

    return RestException({"error_code": code, "message": message})


def local(code: str, message: str = "boom") -> Exception:
    from mlflow.exceptions import MlflowException
    from mlflow.protos import databricks_pb2

    return MlflowException(message, error_code=getattr(databricks_pb2, code))


@pytest.mark.parametrize("make", [rest, local])
@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("RESOURCE_DOES_NOT_EXIST", NotFoundError),
        ("NOT_FOUND", NotFoundError),
        ("PERMISSION_DENIED", RegistryPermissionError),
        ("UNAUTHENTICATED", RegistryPermissionError),
        ("CUSTOMER_UNAUTHORIZED", RegistryPermissionError),
        ("TEMPORARILY_UNAVAILABLE", RegistryUnavailableError),
        ("DEADLINE_EXCEEDED", RegistryUnavailableError),
        ("REQUEST_LIMIT_EXCEEDED", RegistryUnavailableError),
        ("ENDPOINT_NOT_FOUND", RegistryUnavailableError),
        ("INVALID_PARAMETER_VALUE", InvalidInputError),
        ("BAD_REQUEST", InvalidInputError),
        ("RESOURCE_ALREADY_EXISTS", StateError),
        ("CANCELLED", StoreError),
    ],
)
def test_codes_map_to_the_error_tree(make, code: str, kind: type[OpsloopError]) -> None:
    error = translate(make(code), registry_uri=URI, action="read version 1 of 'm'")
    assert type(error) is kind
    assert code in error.message  # the vendor's code is kept for the reader


def test_internal_error_is_unavailable_from_a_server_but_not_from_a_local_store() -> None:
    assert isinstance(
        translate(rest("INTERNAL_ERROR"), registry_uri=URI, action="x"), RegistryUnavailableError
    )
    error = translate(local("INTERNAL_ERROR"), registry_uri="sqlite:///m.db", action="x")
    assert type(error) is StoreError


def test_a_refused_connection_is_unavailable_and_says_what_to_do() -> None:
    """What MLflow's REST client raises when nothing listens: INTERNAL_ERROR over requests'
    ConnectionError (rest_utils.http_request)."""
    import requests
    from mlflow.exceptions import MlflowException

    try:
        try:
            raise requests.exceptions.ConnectionError("Max retries exceeded (refused)")
        except requests.exceptions.ConnectionError as exc:
            raise MlflowException(f"API request to {URI} failed with exception {exc}") from None
    except MlflowException as exc:
        error = translate(exc, registry_uri=URI, action="list the versions of 'm'")
    assert isinstance(error, RegistryUnavailableError)
    assert isinstance(error, ConnectionError) and isinstance(error, StoreError)
    assert error.expected and error.got and error.fix
    assert "s3cret" not in error.message and "user:***@mlflow.internal:5000" in error.message


@pytest.mark.parametrize(
    ("status", "kind"),
    [(404, NotFoundError), (403, RegistryPermissionError), (401, RegistryPermissionError),
     (502, RegistryUnavailableError), (418, StoreError)],
)  # fmt: skip
def test_http_errors_from_requests(status: int, kind: type[OpsloopError]) -> None:
    import requests

    response = requests.Response()
    response.status_code = status
    error = translate(
        requests.exceptions.HTTPError(f"{status}", response=response), registry_uri=URI, action="x"
    )
    assert type(error) is kind


def test_not_found_uses_the_callers_message_and_everything_is_chained() -> None:
    missing = NotFoundError("model 'm' has no version '9'")
    original = rest("RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(NotFoundError) as info, translated(URI, "read", not_found=missing):
        raise original
    assert info.value is missing and info.value.__cause__ is original
    denied = rest("PERMISSION_DENIED")
    with pytest.raises(PermissionError) as refused, translated(URI, "read"):
        raise denied
    assert refused.value.__cause__ is denied


def test_other_exceptions_pass_through_untouched() -> None:
    assert translate(KeyError("x"), registry_uri=URI, action="x") is None
    with pytest.raises(KeyError), translated(URI, "read"):
        raise KeyError("a bug, not a registry answer")
    already = NotFoundError("no such thing")
    with pytest.raises(NotFoundError) as info, translated(URI, "read"):
        raise already
    assert info.value is already


def test_display_uri_hides_only_the_password() -> None:
    assert display_uri(URI) == "http://user:***@mlflow.internal:5000"
    assert display_uri("postgresql://u:p@db/mlflow") == "postgresql://u:***@db/mlflow"
    assert display_uri("sqlite:////tmp/m.db") == "sqlite:////tmp/m.db"
    assert display_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_http_status_of_the_new_errors() -> None:
    from opsloop.serve.errors import error_status

    assert error_status(RegistryUnavailableError("down")) == 503
    assert error_status(RegistryPermissionError("refused")) == 403
    assert error_status(StoreError("other")) == 400  # unchanged
