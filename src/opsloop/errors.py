"""The opsloop error tree.

Every error says what was expected, what came, and how to fix it. Each subclass also
inherits the builtin it refines, so callers may catch either::

    OpsloopError
     ├── ConfigError            (ValueError)    opsloop.yaml or a setting is wrong
     ├── ProjectNotFoundError   (FileNotFoundError) no opsloop.yaml where one was expected
     ├── UserCodeError          (RuntimeError)  the project's load()/build() failed or returned junk
     ├── DataValidationError    (ValueError)    data does not match the stored schema
     ├── InvalidInputError      (ValueError)    a request or file given to opsloop is malformed
     │    └── ProfileFormatError               a stored profile is in an old format (retrain)
     ├── NotFoundError          (LookupError)   a model, version, deployment or artifact is missing
     ├── StateError             (RuntimeError)  the operation is not valid in the current state
     ├── ArtifactIntegrityError (RuntimeError)  a model artifact does not match its recorded
     │                                         SHA-256: it is never unpickled (SECURITY.md)
     └── StoreError             (RuntimeError)  the ops store or the model registry failed
          ├── RegistryUnavailableError (ConnectionError) the registry cannot be reached (down,
          │                                         5xx, timeout); HTTP 503
          └── RegistryPermissionError  (PermissionError) the registry refused this user; HTTP 403

Vendor errors are translated where they enter, by error code, and chained (``raise ...
from exc``): MLflow's in registry/_mlflow_errors.py (not found, unavailable, permission,
invalid input, conflict; anything else a ``StoreError`` that names MLflow's code).

Every message has its credentials masked (``opsloop.redact``): a password in a URI is never
shown. Only the CLI and the HTTP layer catch ``OpsloopError`` broadly and turn it into a
one-line message or a JSON error body.
"""

from __future__ import annotations

from opsloop.redact import redact


class OpsloopError(Exception):
    """Root of every error opsloop raises on purpose."""

    def __init__(
        self,
        what: str,
        *,
        expected: str | None = None,
        got: str | None = None,
        fix: str | None = None,
    ) -> None:
        # exception text and URIs can carry credentials: never in a message (SECURITY.md)
        self.what = redact(what)
        self.expected = None if expected is None else redact(expected)
        self.got = None if got is None else redact(got)
        self.fix = None if fix is None else redact(fix)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [self.what.rstrip(".") + "."]
        if self.expected is not None:
            parts.append(f"Expected {self.expected}.")
        if self.got is not None:
            parts.append(f"Got {self.got}.")
        if self.fix is not None:
            parts.append(f"Fix: {self.fix.rstrip('.')}.")
        return " ".join(parts)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "error": self.message,
            "type": type(self).__name__,
            "expected": self.expected,
            "got": self.got,
            "fix": self.fix,
        }


class ConfigError(OpsloopError, ValueError):
    """opsloop.yaml or a setting has a wrong key or value."""


class ProjectNotFoundError(OpsloopError, FileNotFoundError):
    """No opsloop.yaml where a project was expected."""


class UserCodeError(OpsloopError, RuntimeError):
    """The project's own code (load, build) failed or returned something unusable."""


class DataValidationError(OpsloopError, ValueError):
    """Data does not match the schema stored with the model."""


class InvalidInputError(OpsloopError, ValueError):
    """A request, file or argument given to opsloop is malformed."""


class ProfileFormatError(InvalidInputError):
    """A stored profile was written in a format this opsloop no longer reads (retrain)."""


class NotFoundError(OpsloopError, LookupError):
    """A model, version, deployment or artifact does not exist."""


class StateError(OpsloopError, RuntimeError):
    """The operation is not valid in the current state (e.g. nothing to roll back to)."""


class ArtifactIntegrityError(OpsloopError, RuntimeError):
    """A model artifact (or a cached copy) does not match the digest recorded for it; it
    was not unpickled."""


class StoreError(OpsloopError, RuntimeError):
    """The ops store or the model registry could not be read or written."""


class RegistryUnavailableError(StoreError, ConnectionError):
    """The model registry cannot be reached: connection refused, timeout, or a 5xx answer."""


class RegistryPermissionError(StoreError, PermissionError):
    """The model registry refused this user (not authenticated, or not allowed)."""
