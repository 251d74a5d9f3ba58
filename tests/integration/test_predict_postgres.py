"""The batch output in PostgreSQL (`--output-table`, `predict.output_table`) for real, on
the test server, each test in a schema of its own: every run's rows in a table of their
own, the view readers query re-pointed by publish, rollback and a model rollback, a reader
polling the view throughout seeing only whole runs, a view left behind repaired from the
ops store, and every wrong target one clear line with nothing written."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from opsloop.batch import read_current
from opsloop.batch.pgconn import Comment
from opsloop.batch.pgtable import write_run_table
from opsloop.batch.pgview import point_view
from opsloop.batch.recover import finish_recorded
from opsloop.config.batch import parse_output_table
from opsloop.errors import OutputTableError, StateError
from pg_output import execute, schema, tables, target, view_comment, view_runs
from tinyproject import tiny_frame

pytestmark = pytest.mark.postgres
EMPTY = pa.schema([])


@dataclass(frozen=True)
class Out:
    url: str  # the test database
    schema: str

    def target(self, name: str = "scores") -> str:
        return target(self.url, self.schema, name)

    def runs(self, name: str = "scores") -> dict[str, int]:
        return view_runs(self.url, self.schema, name)

    def tables(self) -> list[str]:
        return tables(self.url, self.schema)


@pytest.fixture
def out(postgres_url: str) -> Iterator[Out]:
    with schema(postgres_url) as name:
        yield Out(postgres_url, name)


@pytest.fixture
def trained(memory_project):
    memory_project.train()
    return memory_project


def _input(tmp_path: Path, n: int, seed: int) -> str:
    path = tmp_path / f"in-{seed}-{n}.parquet"
    tiny_frame(n, seed=seed, prefix="q", days=0.01).drop(columns=["label"]).to_parquet(path)
    return str(path)


def _run(p, tmp_path: Path, out: Out, n: int, seed: int):
    """A run of `n` rows written to the view's table and published; its PredictResult."""
    return p.predict(
        _input(tmp_path, n, seed), tmp_path / "o", publish=True, output_table=out.target()
    )


def _rows(frame: pd.DataFrame) -> set[tuple[object, ...]]:
    frame = frame.assign(event_time=pd.to_datetime(frame["event_time"], utc=True))
    return set(frame.itertuples(index=False, name=None))


def test_a_published_run_is_what_the_view_shows_and_read_current_reads(trained, out, tmp_path):
    p = trained
    result = _run(p, tmp_path, out, 500, 1)
    run = result.run
    name = f"scores__run_{run.run_id.lower().replace('-', '_')}"
    assert run.details["table"] == {
        "target": out.target(),
        "view": f"{out.schema}.scores",
        "table": f"{out.schema}.{name}",
        "rows": 500,
    }
    assert out.tables() == sorted(["scores", name])
    assert out.runs() == {run.run_id: 500}
    comment = view_comment(out.url, out.schema)
    assert comment is not None and (comment["run_id"], comment["revision"]) == (run.run_id, 1)

    current = read_current(p)
    assert current.table is not None
    assert current.to_dict()["table"]["view"] == f"{out.schema}.scores"
    parquet = pd.read_parquet(result.output)
    from_pg = current.read_table().to_pandas()
    assert list(from_pg.columns) == list(parquet.columns)
    assert _rows(from_pg) == _rows(parquet) and len(from_pg) == 500  # same values, exactly
    (event,) = p.events(kinds=["batch_predicted"])
    assert event.evidence["table"]["table"] == f"{out.schema}.{name}"


def test_rollbacks_re_point_the_view(trained, out, tmp_path):
    p = trained
    runs = [_run(p, tmp_path, out, 100 + 50 * i, i).run for i in range(2)]
    assert out.runs() == {runs[1].run_id: 150}
    back = p.rollback_batch()
    assert back.run_id == runs[0].run_id
    assert out.runs() == {runs[0].run_id: 100}
    assert view_comment(out.url, out.schema)["revision"] == back.revision
    (event,) = p.events(kinds=["batch_rolled_back"])
    assert event.evidence["view"] == f"{out.schema}.scores"

    # a model rollback re-publishes the output of the version it returns to: the view too
    p.train(force=True)
    later = _run(p, tmp_path, out, 70, 7).run
    assert later.version == "2" and out.runs() == {later.run_id: 70}
    done = p.admin.rollback_model(actor="ops")
    assert done.batch is not None and done.batch.publication is not None
    assert done.batch.lag is None
    assert out.runs() == {runs[0].run_id: 100}


def test_a_reader_polling_the_view_sees_only_whole_runs(trained, out, tmp_path):
    import psycopg

    p = trained
    runs = [_run(p, tmp_path, out, n, n).run for n in (300, 700)]
    expected = {r.run_id: r.rows for r in runs}
    seen: list[dict[str, int]] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    query = f"SELECT run_id, count(*) FROM {out.schema}.scores GROUP BY run_id"

    def reader() -> None:
        with psycopg.connect(out.url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    seen.append({str(r): int(n) for r, n in conn.execute(query).fetchall()})
                except BaseException as exc:  # any error is a failure of the test
                    errors.append(exc)
                    return

    def shows(run_id: str) -> None:  # until the reader has seen the switch
        deadline = time.monotonic() + 20
        while not (seen and run_id in seen[-1]) and not errors:
            assert time.monotonic() < deadline, f"the reader never saw {run_id}"
            time.sleep(0.005)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(6):
            assert p.rollback_batch().run_id == runs[0].run_id
            shows(runs[0].run_id)
            assert p.publish_batch(runs[1].run_id).run_id == runs[1].run_id
            shows(runs[1].run_id)
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    assert len(seen) > 12
    mixed = [s for s in seen if len(s) != 1 or any(expected[k] != v for k, v in s.items())]
    assert not mixed, mixed[:3]
    assert {next(iter(s)) for s in seen} == set(expected)  # both runs were seen


def test_a_view_left_behind_by_a_crash_is_repaired_from_the_ops_store(trained, out, tmp_path):
    p = trained
    first, second = (_run(p, tmp_path, out, 40 + i, i).run for i in range(2))
    # the pointer committed and the process gone before the view moved (as at the crash
    # point batch.after_rollback): the ops store says `first`, the view still `second`
    pub = p.store.publish_batch(p.name, first.run_id, kind="rolled_back", actor="t")
    assert out.runs() == {second.run_id: 41}
    finished = finish_recorded(p.runtime)  # what every agent tick and batch prediction runs
    assert finished.view is not None and finished.view.moved
    assert any("re-pointed to run" in n for n in finished.notes())
    assert out.runs() == {first.run_id: 40}
    assert view_comment(out.url, out.schema)["revision"] == pub.revision
    again = finish_recorded(p.runtime)  # nothing left to do
    assert again.view is not None and not again.view.moved and again.notes() == []


def test_a_table_no_recorded_run_owns_is_dropped_once_old(trained, out, tmp_path):
    """A run killed between its table's commit and its record left a table no view shows:
    the next tick drops it — not while young (a run in another process between its two
    commits), never another model's, never a recorded run's."""
    p = trained
    kept = _run(p, tmp_path, out, 10, 1).run
    t = parse_output_table(out.target())
    rows = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"row_id": ["a"]}), rows)
    now, old = datetime.now(UTC), datetime.now(UTC) - timedelta(hours=2)
    made = (("tiny", "R-old", old), ("tiny", "R-new", now), ("b", "R-b", old))
    for model, run_id, written in made:
        write_run_table(t, model, run_id, [rows], batch_rows=10, empty=EMPTY, written=written)
    finished = finish_recorded(p.runtime, t)
    assert finished.dropped == ["R-old"]
    assert "R-old: its left-over table dropped" in finished.notes()[-1]
    left = ["scores", "scores__run_r_b", "scores__run_r_new", t.run_table(kept.run_id)]
    assert out.tables() == sorted(left)


def test_the_view_never_goes_back_to_an_older_revision_and_follows_a_type_change(out):
    t = parse_output_table(out.target())
    execute(out.url, f"CREATE TABLE {out.schema}.scores__run_a (id bigint, score float8)")
    execute(out.url, f"INSERT INTO {out.schema}.scores__run_a VALUES (1, 0.5)")
    execute(out.url, f"CREATE TABLE {out.schema}.scores__run_b (id text, score float8)")
    assert point_view(t, Comment("m", "A", 1))
    assert point_view(t, Comment("m", "B", 3))  # id bigint -> text: dropped and created
    assert not point_view(t, Comment("m", "A", 2))  # a slower publisher of an older revision
    assert view_comment(out.url, out.schema) == {
        "kind": "opsloop batch output",
        "model": "m",
        "run_id": "B",
        "revision": 3,
    }
    with pytest.raises(OutputTableError, match="the model 'm', not 'other'"):
        point_view(t, Comment("other", "A", 9))


def test_a_failure_while_copying_leaves_no_table(out, tmp_path):
    good = tmp_path / "part-00000.parquet"
    pq.write_table(pa.table({"id": [1, 2], "score": [0.1, 0.2]}), good)
    broken = tmp_path / "part-00001.parquet"
    broken.write_bytes(good.read_bytes()[:-20])  # cut short, as a file lost mid-write
    t = parse_output_table(out.target())
    now = datetime.now(UTC)
    with pytest.raises(pa.ArrowInvalid):
        write_run_table(t, "m", "R-1", [good, broken], batch_rows=1, empty=EMPTY, written=now)
    assert out.tables() == []  # the CREATE TABLE and the first COPY rolled back with it
    assert write_run_table(t, "m", "R-1", [good], batch_rows=1, empty=EMPTY, written=now) == 2
    assert out.tables() == ["scores__run_r_1"]


def test_an_empty_run_gets_a_table_and_the_view_keeps_working(trained, out, tmp_path):
    p = trained
    empty = tmp_path / "empty.parquet"
    tiny_frame(5, seed=1).drop(columns=["label"]).head(0).to_parquet(empty)
    none = p.predict(str(empty), tmp_path / "o", publish=True, output_table=out.target()).run
    assert none.rows == 0 and out.runs() == {}
    some = _run(p, tmp_path, out, 30, 3).run
    assert out.runs() == {some.run_id: 30}  # the view's column types changed with it
    again = p.predict(str(empty), tmp_path / "o", publish=True, output_table=out.target()).run
    assert again.rows == 0 and out.runs() == {}
    assert p.rollback_batch().run_id == some.run_id and out.runs() == {some.run_id: 30}


def test_a_run_without_the_table_cannot_hide_behind_the_view(trained, out, tmp_path):
    p = trained
    shown = _run(p, tmp_path, out, 20, 1).run
    plain = p.predict(_input(tmp_path, 10, 2), tmp_path / "o").run  # no table
    with pytest.raises(StateError, match="wrote no PostgreSQL table") as caught:
        p.publish_batch(plain.run_id)
    assert f"--output-table {out.target()}" in str(caught.value)
    assert read_current(p).run == shown and out.runs() == {shown.run_id: 20}  # unchanged
    execute(out.url, f"DROP VIEW {out.schema}.scores")  # the operator stops publishing there
    assert p.publish_batch(plain.run_id).run_id == plain.run_id


def _nothing_written(p, out: Out, folder: Path) -> None:
    assert out.tables() == []
    assert not folder.exists() or list(folder.iterdir()) == []
    assert [r.status for r in p.store.list_batch_runs(p.name)] == ["failed"]


def test_a_wrong_target_is_one_clear_line_and_nothing_is_written(trained, out, tmp_path):
    p = trained
    rows = _input(tmp_path, 20, 1)
    down = f"postgresql://ops:hunter2@127.0.0.1:1/db?table={out.schema}.scores"
    with pytest.raises(OutputTableError) as caught:
        p.predict(rows, tmp_path / "a", output_table=down)
    text = str(caught.value)
    assert "checking the batch output table at postgresql://ops:***@127.0.0.1:1/db" in text
    assert "hunter2" not in text and "\n" not in text and "start the server" in text
    _nothing_written(p, out, tmp_path / "a")


@pytest.mark.parametrize("case", ["no_schema", "no_privilege", "a_table", "another_model"])
def test_a_target_that_cannot_take_the_output_fails_before_scoring(trained, out, tmp_path, case):
    p = trained
    url, role = out.url, None
    name = f"{out.schema}.scores"
    if case == "no_schema":
        name = "missing_schema.scores"
    elif case == "no_privilege":
        role = f"reader_{uuid.uuid4().hex[:8]}"
        execute(out.url, f"CREATE ROLE {role} LOGIN")
        parts = urlsplit(out.url)  # the same database, as a user without privileges
        url = urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rpartition('@')[2]}"))
    elif case == "a_table":
        execute(out.url, f"CREATE TABLE {name} (x int)")
    else:
        execute(out.url, f"CREATE TABLE {out.schema}.scores__run_x (x int)")
        t = parse_output_table(out.target())
        point_view(t, Comment("someone_else", "X", 1))
    words = {
        "no_schema": "the schema 'missing_schema' does not exist",
        "no_privilege": "may not create tables in the schema",
        "a_table": "is a table or other object opsloop did not create",
        "another_model": "is the batch output view of the model 'someone_else'",
    }[case]
    try:
        with pytest.raises(OutputTableError, match=words):
            p.predict(
                _input(tmp_path, 20, 1), tmp_path / "a", output_table=target(url, *name.split("."))
            )
        assert not (tmp_path / "a").exists()
        assert [r.status for r in p.store.list_batch_runs(p.name)] == ["failed"]
    finally:
        if role is not None:
            execute(out.url, f"DROP ROLE {role}")


def test_the_cli_writes_publishes_and_shows_the_table(out, tmp_path):
    import json

    from opsloop.project import Project
    from tinyproject import run_cli as run
    from tinyproject import write_tiny_project

    root = write_tiny_project(tmp_path / "t", rows=600)
    p = Project(root)
    try:
        p.train()
    finally:
        p.store.close()
    rows, o = str(root / "data" / "history.parquet"), str(tmp_path / "o")
    code, text = run("predict", "-p", str(root), "-i", rows, "-o", o, "--publish",
                     "--output-table", out.target())  # fmt: skip
    assert code == 0, text
    assert f"readers query the view {out.schema}.scores" in text and "(600 rows)" in text
    code, text = run("batch", "current", "tiny", "-p", str(root), "--json")
    body = json.loads(text)
    assert body["table"]["view"] == f"{out.schema}.scores" and body["table"]["rows"] == 600
    assert out.runs() == {body["run_id"]: 600}

    down = "postgresql://ops:hunter2@127.0.0.1:1/db?table=s.t"
    for bad, words in ((down, "start the server"), ("mysql://h/d?table=t", "postgresql://")):
        code, text = run("predict", "-p", str(root), "-i", rows, "-o", o, "--output-table", bad)
        assert code == 1 and words in text, text
        assert "Traceback" not in text and "hunter2" not in text
