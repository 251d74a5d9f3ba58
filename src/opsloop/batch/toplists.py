"""A recommender's published output as an in-memory index for readers (the restaurants
example's web app): user → their top-k list, plus the run's fallback list.

The nightly output of a ranking model (docs/ranking.md) is one row per (user, rank):
`<user column>`, `rank`, `<item column>`, `score`, `model`, `version`, `run_id`; the
fallback list — what a user the run did not score gets — is the k rows whose user is null,
part of the same run so that it is published and rolled back with the lists.

`TopLists` holds one run and never changes: a reader that took it answers every user from
that one run. `PublishedLists` (`batch/follow.py`) builds one per newly published run and
swaps the reference. Building checks the run's rows name one model, version and run (the
published one), so a reader can never mix two runs' rows.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opsloop.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from opsloop.batch.publish import CurrentBatch

RANK, SCORE, MODEL, VERSION, RUN_ID = "rank", "score", "model", "version", "run_id"


def output_columns(user_column: str, item_column: str) -> list[str]:
    """The nightly ranking output's columns, in order."""
    return [user_column, RANK, item_column, SCORE, MODEL, VERSION, RUN_ID]


@dataclass(frozen=True)
class Ranked:
    """One item of a list."""

    rank: int
    item: Any
    score: float | None  # None for a score that is not a finite number


@dataclass(frozen=True)
class ServedList:
    """What a reader answers for one user: their own list, or the run's fallback list
    (`fallback`), with the run it came from."""

    user: str
    fallback: bool
    items: tuple[Ranked, ...]
    model: str
    version: str | None
    run_id: str


@dataclass(frozen=True, eq=False)
class TopLists:
    """One run's lists (immutable). Users are keyed by their id as text (an integer id
    42 is "42"), as the prediction log and the labels store key them."""

    model: str
    version: str | None
    run_id: str
    rows: int
    _offsets: Mapping[str, tuple[int, int]] = field(repr=False)
    _fallback: tuple[int, int] | None = field(repr=False)
    _ranks: np.ndarray = field(repr=False)
    _codes: np.ndarray = field(repr=False)
    _catalogue: Sequence[Any] = field(repr=False)
    _scores: np.ndarray = field(repr=False)

    @property
    def users(self) -> int:
        """How many users have a list of their own."""
        return len(self._offsets)

    @property
    def has_fallback(self) -> bool:
        return self._fallback is not None

    def __contains__(self, user: object) -> bool:
        return user in self._offsets

    def find(self, user: str) -> ServedList | None:
        """`user`'s own list, None if the run has none for them."""
        span = self._offsets.get(user)
        return None if span is None else self._served(user, span, fallback=False)

    def get(self, user: str) -> ServedList:
        """`user`'s own list, else the fallback list; NotFoundError if the run has neither."""
        span = self._offsets.get(user)
        if span is not None:
            return self._served(user, span, fallback=False)
        if self._fallback is None:
            raise NotFoundError(
                f"user {user!r} has no list in run {self.run_id}, and the run has no fallback list",
                expected="a fallback list in every ranking output: its rows have a null user",
                fix="re-run the nightly prediction with a model that writes the fallback list",
            )
        return self._served(user, self._fallback, fallback=True)

    def _served(self, user: str, span: tuple[int, int], *, fallback: bool) -> ServedList:
        start, stop = span
        ranks = self._ranks[start:stop].tolist()
        codes = self._codes[start:stop].tolist()
        scores = self._scores[start:stop].tolist()
        items = tuple(
            Ranked(r, self._catalogue[c], s if math.isfinite(s) else None)
            for r, c, s in zip(ranks, codes, scores, strict=True)
        )
        return ServedList(user, fallback, items, self.model, self.version, self.run_id)

    @classmethod
    def from_table(
        cls, table: pa.Table, *, user_column: str, item_column: str, run_id: str
    ) -> TopLists:
        """The index of a run's output rows; InvalidInputError when a column is missing,
        the rows name another or several runs, versions or models, a rank or item is
        missing, or a user has a rank twice."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        wanted = output_columns(user_column, item_column)
        missing = [c for c in wanted if c not in table.column_names]
        if missing:
            raise InvalidInputError(
                f"the output of run {run_id} lacks the column(s) {missing}",
                expected=f"a ranking output with the columns {wanted}",
                got=f"columns {table.column_names}",
            )
        stamp = {c: pc.unique(table[c]).to_pylist() for c in (MODEL, VERSION, RUN_ID)}
        if table.num_rows and (
            stamp[RUN_ID] != [run_id] or any(len(v) != 1 for v in stamp.values())
        ):
            raise InvalidInputError(
                f"the output of run {run_id} holds rows of other runs, versions or models",
                expected=f"every row stamped with run {run_id}, one model and one version",
                got=", ".join(f"{c}: {v[:5]}" for c, v in stamp.items()),
            )
        for c in (RANK, item_column):
            if table[c].null_count:
                raise InvalidInputError(
                    f"the output of run {run_id} has {table[c].null_count} rows without {c!r}"
                )
        users = table[user_column]
        if not pa.types.is_string(users.type) and not pa.types.is_large_string(users.type):
            users = users.cast(pa.string())
        frame = pa.table(
            {
                "u": users,
                RANK: table[RANK].cast(pa.int32()),
                "item": table[item_column],
                SCORE: table[SCORE].cast(pa.float64()),
            }
        )
        null_user = pc.is_null(frame["u"])
        listed = frame.filter(pc.invert(null_user)).sort_by(
            [("u", "ascending"), (RANK, "ascending")]
        )
        fallback = frame.filter(null_user).sort_by([(RANK, "ascending")])
        both = pa.concat_tables([listed, fallback]).combine_chunks()
        encoded = pc.dictionary_encode(both["item"]).combine_chunks()
        ranks = both[RANK].to_numpy()
        scores = both[SCORE].fill_null(math.nan).to_numpy()
        offsets: dict[str, tuple[int, int]] = {}
        if listed.num_rows:
            keys = pc.dictionary_encode(listed["u"]).combine_chunks()
            codes = keys.indices.to_numpy()  # sorted users: codes rise 0, 0, 1, 1, 1, 2, ...
            same = codes[1:] == codes[:-1]
            if bool(np.any(same & (ranks[1 : len(codes)] == ranks[: len(codes) - 1]))):
                raise InvalidInputError(
                    f"the output of run {run_id} gives a user the same rank twice",
                    expected="one row per (user, rank)",
                )
            counts = np.bincount(codes, minlength=len(keys.dictionary))
            stops = np.cumsum(counts)
            starts = stops - counts
            offsets = dict(
                zip(
                    keys.dictionary.to_pylist(),
                    zip(starts.tolist(), stops.tolist(), strict=True),
                    strict=True,
                )
            )
        n = listed.num_rows
        version = stamp[VERSION][0] if table.num_rows else None
        return cls(
            model=str(stamp[MODEL][0]) if table.num_rows else "",
            version=None if version is None else str(version),
            run_id=run_id,
            rows=table.num_rows,
            _offsets=offsets,
            _fallback=(n, both.num_rows) if fallback.num_rows else None,
            _ranks=ranks,
            _codes=encoded.indices.to_numpy(),
            _catalogue=encoded.dictionary.to_pylist(),
            _scores=scores,
        )


def read_output(current: CurrentBatch, columns: list[str] | None = None) -> pa.Table:
    """The published run's rows: its Parquet files where this machine sees the run folder,
    else its own PostgreSQL table (`predict.output_table`; never the view, which may
    already show a newer run)."""
    if current.path.is_dir() or current.table is None:
        return current.read(columns)
    return current.read_table(columns)


def count_listed(current: CurrentBatch, user_column: str, users: Sequence[str]) -> int:
    """How many of `users` (ids as text, one per visit: repeats count) have a list of
    their own in the published run."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not users:
        return 0
    hits = pc.is_in(pa.array(users, pa.string()), value_set=listed_users(current, user_column))
    return int(pc.sum(hits.cast(pa.int64())).as_py() or 0)


# A run's output never changes once recorded: the users it lists are read once per process
# (the web app stores visits part after part against the same published run).
_LISTED: OrderedDict[tuple[str, str, str | None, str], pa.Array] = OrderedDict()
_LISTED_LOCK = threading.Lock()


def listed_users(current: CurrentBatch, user_column: str) -> pa.Array:
    """The distinct users (as text) the run has a list of their own for."""
    import pyarrow as pa
    import pyarrow.compute as pc

    run = current.run
    key = (run.model, run.run_id, run.output, user_column)
    with _LISTED_LOCK:
        found = _LISTED.get(key)
        if found is not None:
            _LISTED.move_to_end(key)
            return found
    column = read_output(current, [user_column])[user_column].combine_chunks().drop_null()
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    distinct = pc.unique(column)
    with _LISTED_LOCK:
        _LISTED[key] = distinct
        while len(_LISTED) > 2:
            _LISTED.popitem(last=False)
    return distinct
