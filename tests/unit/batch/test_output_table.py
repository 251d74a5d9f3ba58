"""The batch output table's target (`predict.output_table`, `--output-table`), its column
types and opsloop's comments, without a server (tests/integration/test_predict_postgres.py
has the server)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from opsloop.batch.pgconn import Comment
from opsloop.batch.pgtable import pg_type
from opsloop.batch.pgview import RunTable
from opsloop.batch.predict import new_run_id, output_table_of
from opsloop.config import parse_config
from opsloop.config.batch import MAX_TABLE_NAME, parse_output_table
from opsloop.errors import ConfigError, InvalidInputError


def test_a_target_names_the_view_and_each_run_table() -> None:
    t = parse_output_table("postgresql://ops:s3cret@db:5433/analytics?sslmode=require&table=a.b_c")
    assert (t.schema, t.name, t.view) == ("a", "b_c", "a.b_c")
    assert t.url == "postgresql://ops:s3cret@db:5433/analytics?sslmode=require"
    assert t.shown == "postgresql://ops:***@db:5433/analytics?sslmode=require&table=a.b_c"
    assert "s3cret" not in repr(t)
    assert t.run_table("20261207T020000Z-4f1c2a") == "b_c__run_20261207t020000z_4f1c2a"
    assert parse_output_table("postgres://h/d?table=x").view == "public.x"


def test_a_masked_target_is_reached_with_the_password_left_to_libpq() -> None:
    t = parse_output_table("postgresql://ops:s3cret@db/a?password=p2&table=s.t")
    recorded = parse_output_table(t.shown).without_password()
    assert recorded.url == "postgresql://ops@db/a"
    assert recorded.shown == t.shown
    assert RunTable.written(t, "R-1", 3).resolve([t]).url == t.url  # a known one wins
    assert RunTable.written(t, "R-1", 3).resolve([]).url == "postgresql://ops@db/a"


def test_the_longest_allowed_name_fits_postgres_with_a_run_id() -> None:
    name = "n" * MAX_TABLE_NAME
    t = parse_output_table(f"postgresql://h/d?table={name}")
    from datetime import UTC, datetime

    assert len(t.run_table(new_run_id(datetime.now(UTC)))) == 63
    with pytest.raises(ValueError, match="at most"):
        parse_output_table(f"postgresql://h/d?table={name}n")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("mysql://h/d?table=t", "expected postgresql://"),
        ("postgresql://h/?table=t", "names no host or database"),
        ("postgresql://h/d", "0 table= parameter(s)"),
        ("postgresql://h/d?table=a&table=b", "2 table= parameter(s)"),
        ("postgresql://h/d?table=Scores", "lower-case letters"),
        ("postgresql://h/d?table=a.b.c", "lower-case letters"),
        ("postgresql://h/d?table=x;drop", "lower-case letters"),
    ],
)
def test_a_wrong_target_says_what_is_expected(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_output_table(text)
    with pytest.raises(InvalidInputError, match="the batch output table is not usable"):
        output_table_of(text)


def test_the_configuration_checks_it_and_masks_the_password() -> None:
    base = {"model": "m", "target": "y", "id_column": "i", "time_column": "t"}
    ok = parse_config({**base, "predict": {"input": "a", "output": "b", "output_table": None}})
    assert ok.predict is not None and ok.predict.output_table is None
    bad = "postgresql://u:hunter2@h/d?table=Bad"
    with pytest.raises(ConfigError) as caught:
        parse_config({**base, "predict": {"input": "a", "output": "b", "output_table": bad}})
    assert "predict.output_table" in str(caught.value) and "hunter2" not in str(caught.value)


def test_arrow_types_map_to_postgres_columns() -> None:
    assert pg_type(pa.int64()) == "bigint"
    assert pg_type(pa.string()) == "text"
    assert pg_type(pa.float64()) == "double precision"
    assert pg_type(pa.bool_()) == "boolean"
    assert pg_type(pa.timestamp("ns")) == "timestamptz"
    assert pg_type(pa.dictionary(pa.int32(), pa.string())) == "text"
    assert pg_type(pa.decimal128(12, 3)) == "numeric(12,3)"
    assert pg_type(pa.list_(pa.float64())) is None


def test_only_opsloop_s_own_comments_are_read_back() -> None:
    c = Comment("churn", "R-1", 4)
    assert Comment.parse(c.text()) == c
    assert Comment.parse(Comment("churn", "R-1").text()) == Comment("churn", "R-1", 0)
    for foreign in (None, "", "scores for the web app", '{"model": "churn"}', "[1]"):
        assert Comment.parse(foreign) is None
