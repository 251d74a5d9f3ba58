"""Credentials never leave opsloop in text: error messages, events, run errors, logs."""

from __future__ import annotations

import logging

import pytest

from opsloop.errors import StoreError, UserCodeError
from opsloop.redact import RedactFilter, redact, redact_json

SECRET = "hunter2pw"


@pytest.mark.parametrize(
    "text",
    [
        f"postgresql://bob:{SECRET}@db.internal:5432/ops",
        f"could not connect to mysql+pymysql://bob:{SECRET}@db/x (timeout)",
        f"http://bob:{SECRET}@mlflow:5000/api/2.0/mlflow/experiments/search failed",
        f"host=db user=bob password={SECRET} dbname=ops",
        f"https://s3.example/b?X-Amz-Security-Token=1&token={SECRET}&x=1",
        f"Authorization: Bearer {SECRET}xyz",
        f"s3://:{SECRET}@bucket/key",
    ],
)
def test_credentials_are_masked(text: str) -> None:
    clean = redact(text)
    assert SECRET not in clean and "***" in clean


def test_other_text_is_left_alone() -> None:
    for text in ("sqlite:///.opsloop/ops.db", "http://mlflow:5000", "x = 1", "roc_auc=0.91"):
        assert redact(text) == text
    assert redact("postgresql://bob@db/ops") == "postgresql://bob@db/ops"
    assert redact("postgresql://bob:***@db/ops") == "postgresql://bob:***@db/ops"


def test_json_values_are_walked() -> None:
    value = {"error": f"pwd={SECRET}", "n": 3, "more": [f"x://u:{SECRET}@h", None]}
    assert SECRET not in str(redact_json(value)) and redact_json(value)["n"] == 3


def test_every_error_message_is_masked() -> None:
    error = UserCodeError(
        f"load() failed: OperationalError: postgresql://bob:{SECRET}@db/ops refused",
        got=f"password={SECRET}",
        fix="check the DSN",
    )
    assert SECRET not in error.message and SECRET not in str(error)
    assert SECRET not in str(error.to_dict())
    assert SECRET not in StoreError("x", expected=f"http://a:{SECRET}@b").message


def test_log_records_are_masked_with_their_traceback() -> None:
    record = logging.LogRecord(
        "opsloop.serve", logging.ERROR, __file__, 1, "failed: %s", (f"u:{SECRET}@",), None
    )
    record.args = (f"postgresql://bob:{SECRET}@db/ops",)
    try:
        raise RuntimeError(f"postgresql://bob:{SECRET}@db/ops")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactFilter().filter(record)
    out = logging.Formatter().format(record)
    assert SECRET not in out and "RuntimeError" in out and "bob:***@db" in out
