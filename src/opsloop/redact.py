"""Credentials out of every text opsloop shows or stores (SECURITY.md).

Exception text from MLflow, database drivers and the user's own code can carry a connection
string. `redact` masks what looks like a credential in free text: the password of any
`scheme://user:password@host` URI, `password=`/`token=`/`secret=`-style key-value pairs
(libpq DSNs, query strings) and bearer tokens. It is applied where text leaves opsloop:
every `OpsloopError` message (so every CLI error line and HTTP error body), events and
pipeline-run errors when they are written and again when they are read (rows written
before), and log records (`install_log_redaction`).

The bottom layer: imports nothing of opsloop.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
_URI_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s]*):[^@\s/]+@")
_KEY_VALUE = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|client_secret|token|access_token|api_key|apikey)"
    r"(\s*=\s*)([^&\s'\",;)]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}")


def redact(text: str) -> str:
    """`text` with URI passwords, secret key-values and bearer tokens masked."""
    if "://" not in text and "=" not in text and "earer" not in text:
        return text  # the common case, without a regex
    text = _URI_PASSWORD.sub(rf"\1:{MASK}@", text)
    text = _KEY_VALUE.sub(rf"\1\2{MASK}", text)
    return _BEARER.sub(rf"\1{MASK}", text)


def redact_json(value: Any) -> Any:
    """Every string in a JSON-like value (dicts, lists, tuples) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v) for v in value]
    return value


class RedactFilter(logging.Filter):
    """Masks credentials in a record's message and traceback before any handler formats
    it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactFilter()


def install_log_redaction() -> None:
    """Add the filter to the root logger's handlers and to Python's last-resort handler
    (what prints a library's warning when nothing is configured). Idempotent; call it
    again after configuring logging."""
    handlers = [*logging.getLogger().handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


def exception_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line for a log, credentials masked (a driver's error text
    carries its connection URL and spans lines)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return redact(f"{type(exc).__name__}: {first}")[:limit]
