"""The rows a ranking run writes for each chunk of users: the top-k lists as output rows
(one per user and rank) and as prediction-log rows, and the fallback list (the rows whose
user is null).

Output columns, in order (docs/batch.md, "Ranking"): ``<user_column>`` (the input's type),
``rank`` (int16, 1..k), ``<item_column>`` (the items table's type), ``score`` (float64),
``model``, ``version``, ``run_id``. A user's list may be shorter than k when the
recommender could rank fewer items: the missing ranks are left out, never written as nulls.

Log rows (the layout of `opsloop.data.predlog`, route `batch`): ``prediction_id`` (the
user id as text), ``request_id`` (``batch-<run id>``), ``ts`` and ``event_ts`` (when the
run answered), ``model_version``, ``route``, then the output's columns with ``prediction``
(the recommended item, as the log's readers expect a prediction) before ``score``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from opsloop.batch.rows import UTC_MICROS
from opsloop.batch.score import BATCH_ROUTE
from opsloop.ranking.data import PAD

if TYPE_CHECKING:
    from datetime import datetime

    import pyarrow as pa

    from opsloop.ranking.data import TopK

RANK_TYPE = "int16"


@dataclass(frozen=True)
class Ranked:
    """One chunk's lists as flat Arrow arrays, one entry per (user, rank)."""

    users: pa.Array
    rank: pa.Array
    items: pa.Array
    scores: pa.Array

    @property
    def rows(self) -> int:
        return len(self.rank)


def flatten(users: pa.Array, top: TopK) -> Ranked:
    """`top`'s lists for `users` (the Arrow column the ids came from, in `top`'s row
    order), without the padding of short lists."""
    import pyarrow as pa

    if len(users) != len(top.users):
        raise ValueError(f"{len(users)} user ids for {len(top.users)} lists")
    valid = top.items != PAD
    row, col = np.nonzero(valid)  # row-major: each user's ranks in order
    catalogue = pa.array(np.asarray(top.catalogue))
    return Ranked(
        users=users.take(pa.array(row, pa.int64())),
        rank=pa.array((col + 1).astype(RANK_TYPE)),
        items=catalogue.take(pa.array(top.items[valid], pa.int64())),
        scores=pa.array(top.scores[valid].astype(np.float64), pa.float64()),
    )


@dataclass(frozen=True)
class RankRows:
    """What every row of one ranking run carries besides its lists."""

    model: str
    version: str
    run_id: str
    user_column: str
    item_column: str

    def output(self, ranked: Ranked) -> pa.Table:
        """The output rows of `ranked` (module docstring)."""
        import pyarrow as pa

        n = ranked.rows
        return pa.table(
            {
                self.user_column: ranked.users,
                "rank": ranked.rank,
                self.item_column: ranked.items,
                "score": ranked.scores,
                "model": pa.repeat(pa.scalar(self.model), n),
                "version": pa.repeat(pa.scalar(self.version), n),
                "run_id": pa.repeat(pa.scalar(self.run_id), n),
            }
        )

    def log(self, ranked: Ranked, answered: datetime) -> pa.Table:
        """The prediction-log rows of `ranked`, answered at `answered` (module docstring)."""
        import pyarrow as pa

        n = ranked.rows
        when = pa.repeat(pa.scalar(answered, pa.timestamp(*UTC_MICROS)), n)
        out = self.output(ranked)
        return pa.table(
            {
                "prediction_id": ranked.users.cast(pa.string()),
                "request_id": pa.repeat(pa.scalar(f"batch-{self.run_id}"), n),
                "ts": when,
                "event_ts": when,
                "model_version": pa.repeat(pa.scalar(self.version), n),
                "route": pa.repeat(pa.scalar(BATCH_ROUTE), n),
                self.user_column: out.column(self.user_column),
                "rank": out.column("rank"),
                self.item_column: out.column(self.item_column),
                "prediction": out.column(self.item_column),
                "score": out.column("score"),
                "model": out.column("model"),
                "version": out.column("version"),
                "run_id": out.column("run_id"),
            }
        )

    def fallback(self, top: TopK, user_type: pa.DataType) -> pa.Table:
        """The output rows of the fallback list (`top`'s first list): its user null, of
        the type of the input's user column."""
        import pyarrow as pa

        first = type(top)(top.users[:1], top.items[:1], top.scores[:1], top.catalogue)
        return self.output(flatten(pa.nulls(1, user_type), first))
