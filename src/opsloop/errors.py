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
     ├── FileAccessError        (OSError)       a file or folder cannot be written or read
     │                                          (permissions, read-only, full disk)
     └── StoreError             (RuntimeError)  the ops store or the model registry failed
          ├── RegistryUnavailableError (ConnectionError) the registry cannot be reached (down,
          │                                         5xx, timeout); HTTP 503
          ├── RegistryPermissionError  (PermissionError) the registry refused this user; HTTP 403
          └── OutputTableError               a batch output's PostgreSQL table or view cannot be
                                             reached, written or re-pointed

Vendor errors are translated where they enter, by error code, and chained (``raise ...
from exc``): MLflow's in registry/_mlflow_errors.py (not found, unavailable, permission,
invalid input, conflict; anything else a ``StoreError`` that names MLflow's code).

Every message has its credentials masked (``opsloop.redact``): a password in a URI is never
shown. Only the CLI and the HTTP layer catch ``OpsloopError`` broadly and turn it into a
one-line message or a JSON error body.
"""

from __future__ import annotations

import errno
import os

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


class FileAccessError(OpsloopError, OSError):
    """A file or folder opsloop needs cannot be written or read (see `file_error`)."""


_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_DENIED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def file_error(exc: OSError, doing: str, path: object = None) -> FileAccessError:
    """`exc` from the file system as one actionable line: what opsloop was `doing`, which
    path (`exc`'s, else `path`), why, and the fix (free space, permissions) — never a
    traceback."""
    path = exc.filename if exc.filename is not None else (path or "the folder")
    reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or type(exc).__name__)
    if exc.errno in _FULL:
        fix = f"free space on the disk holding {path}, then run the command again"
    elif exc.errno in _DENIED:
        fix = (
            f"make {path} writable by this user (e.g. `chmod u+w`, or `chattr -i` if it is "
            "immutable), or point the stack's folders elsewhere in opsloop.yaml"
        )
    else:
        fix = f"check {path} and the disk it is on"
    return FileAccessError(f"{doing} failed: {reason} ({path})", fix=fix)


class StoreError(OpsloopError, RuntimeError):
    """The ops store or the model registry could not be read or written."""


class RegistryUnavailableError(StoreError, ConnectionError):
    """The model registry cannot be reached: connection refused, timeout, or a 5xx answer."""


class RegistryPermissionError(StoreError, PermissionError):
    """The model registry refused this user (not authenticated, or not allowed)."""


class OutputTableError(StoreError):
    """A batch prediction's PostgreSQL output (`predict.output_table`) cannot be reached,
    written or re-pointed: unreachable, authentication, a missing schema or privilege, a
    name taken by something opsloop did not create."""
