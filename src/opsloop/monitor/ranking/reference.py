"""What a recommender saw at training, for its monitoring: the `RankingReference`.

Built at registration by `ranking_reference(data, top, k=...)` from the training split:
`data` holds the users and items tables as known at the cut-off and, as its interactions,
the reference visits (the split's evaluation visits: what the offline metrics were judged
on, the nearest in time to the windows that follow); `top` the model's lists for the
evaluation users. It keeps, as profiles of `opsloop.core.profile` (so a window is judged by
the same drift statistics as a tabular model's features, `opsloop.monitor.drift`):

- `users`: each column of the users table over the reference's visiting users (each once),
  named ``user.<column>``;
- `items`: each column of the items table over the reference visits (one row per visit),
  named ``item.<column>``;
- `scores`: the lists' scores, all ranks (``score``) and per rank band (``score@1``,
  ``score@2-5``, ``score@6-10``: the top of a list and its tail move differently);

plus the item shares of the visits (distinct visitors per item) and of the
recommendations (list slots per item), by item id as text, the lists' catalogue coverage
and the offline NDCG@k when given. Date and time columns are profiled as ages: days before
the period's end (the reference visits' newest time; the window's end), so that a sign-up
or opening date does not drift merely because time passed. Stored with the version as the
artifact `ranking_reference.json`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.core.profile import Profile, reference_feature
from opsloop.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.data.features import FeatureSpec
    from opsloop.ranking.data import RankingData, TopK

FORMAT = 1
ARTIFACT = "ranking_reference.json"
SCORE = "score"  # every rank's score (the summary's prediction drift)
USER_PREFIX, ITEM_PREFIX = "user.", "item."


@dataclass(frozen=True)
class RankBand:
    """Ranks `first`..`last` (1-based, inclusive) of a list."""

    first: int
    last: int

    @property
    def name(self) -> str:
        span = str(self.first) if self.first == self.last else f"{self.first}-{self.last}"
        return f"{SCORE}@{span}"


def rank_bands(k: int) -> list[RankBand]:
    """The top item, ranks 2-5 and the rest (as many of these as `k` has)."""
    bands = [RankBand(1, 1)]
    if k >= 2:
        bands.append(RankBand(2, min(k, 5)))
    if k >= 6:
        bands.append(RankBand(6, k))
    return bands


def table_features(
    table: pd.DataFrame, id_column: str, prefix: str, as_of: Any = None
) -> pd.DataFrame:
    """The columns of a users or items table to profile, named ``<prefix><column>``:
    without the id column; dates and times as days before `as_of` (a time; None: days
    since 1970-01-01)."""
    import pandas as pd

    origin = pd.Timestamp(0, tz="UTC") if as_of is None else _utc(as_of)
    out: dict[str, Any] = {}
    for name in table.columns:
        if name == id_column:
            continue
        col = table[name]
        if pd.api.types.is_datetime64_any_dtype(col):
            days = (origin - pd.to_datetime(col, utc=True)) / pd.Timedelta(days=1)
            col = days if as_of is not None else -days
        out[f"{prefix}{name}"] = col
    return pd.DataFrame(out, index=table.index)


def _utc(value: Any) -> pd.Timestamp:
    import pandas as pd

    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _specs(frame: pd.DataFrame) -> list[FeatureSpec]:
    from opsloop.data.features import infer_features

    return infer_features(frame)


def profile_table(frame: pd.DataFrame) -> Profile:
    """A reference profile of every column of a `table_features` frame."""
    return Profile(
        n_rows=len(frame),
        features={s.name: reference_feature(frame[s.name], s) for s in _specs(frame)},
    )


def active_users(users: pd.DataFrame, user_column: str, ids: Sequence[Any]) -> pd.DataFrame:
    """The users table's rows of `ids` (each once, as text; unknown ids: a row of nulls)."""
    import pandas as pd

    wanted = pd.Index(pd.unique(pd.Series(ids, dtype=object).astype(str)))
    keyed = users.assign(**{user_column: users[user_column].astype(str)})
    keyed = keyed.drop_duplicates(user_column).set_index(user_column)
    return keyed.reindex(wanted).rename_axis(user_column).reset_index()


def visited_items(items: pd.DataFrame, item_column: str, ids: Sequence[Any]) -> pd.DataFrame:
    """One row of the items table per visit of `ids` (as text; unknown items: nulls)."""
    import pandas as pd

    keyed = items.assign(**{item_column: items[item_column].astype(str)})
    keyed = keyed.drop_duplicates(item_column).set_index(item_column)
    visited = pd.Index(pd.Series(ids, dtype=object).astype(str))
    return keyed.reindex(visited).rename_axis(item_column).reset_index()


def band_scores(scores: np.ndarray, band: RankBand) -> np.ndarray:
    """The finite scores of a band of a (lists × k) score matrix."""
    part = np.asarray(scores, dtype=float)[:, band.first - 1 : band.last].ravel()
    finite: np.ndarray = part[np.isfinite(part)]
    return finite


def visitor_counts(users: Sequence[Any], items: Sequence[Any]) -> dict[str, int]:
    """Distinct visitors per item id (as text): a user's repeat visits to an item count
    once, so that a few heavy users do not make the shares noisier than their number of
    visits suggests (`opsloop.monitor.ranking.popularity`)."""
    import pandas as pd

    pairs = pd.DataFrame(
        {"user": np.asarray(users, dtype=object), "item": np.asarray(items, dtype=object)}
    )
    pairs = pairs[pairs["item"].notna()].assign(user=lambda f: f["user"].astype(str))
    return item_counts(pairs.drop_duplicates()["item"].to_numpy())


def item_counts(ids: Sequence[Any]) -> dict[str, int]:
    """Occurrences per item id (as text)."""
    import pandas as pd

    counts = pd.Series(ids, dtype=object).dropna().astype(str).value_counts(sort=False)
    return {str(k): int(v) for k, v in counts.items()}


@dataclass
class RankingReference:
    """What the recommender saw at training (module docstring)."""

    k: int
    users: Profile
    items: Profile
    scores: Profile
    visit_counts: dict[str, int]  # distinct visitors per item (`visitor_counts`)
    list_counts: dict[str, int]  # list slots per item
    coverage: float | None
    catalogue_size: int
    n_users: int  # users with a reference list
    ndcg: float | None = None  # the offline NDCG@k on the reference visits, if given
    notes: list[str] = field(default_factory=list)

    @property
    def bands(self) -> list[RankBand]:
        return rank_bands(self.k)

    def feature_profile(self) -> Profile:
        """The user and item features in one profile (their names do not collide)."""
        return Profile(
            self.users.n_rows + self.items.n_rows, {**self.users.features, **self.items.features}
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "k": self.k,
                "users": json.loads(self.users.to_json()),
                "items": json.loads(self.items.to_json()),
                "scores": json.loads(self.scores.to_json()),
                "visit_counts": self.visit_counts,
                "list_counts": self.list_counts,
                "coverage": self.coverage,
                "catalogue_size": self.catalogue_size,
                "n_users": self.n_users,
                "ndcg": self.ndcg,
                "notes": self.notes,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> RankingReference:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise InvalidInputError(
                "the stored ranking reference is not in a format this opsloop reads",
                expected=f"format {FORMAT}",
                got=f"format {data.get('format')}",
                fix="retrain the model (`opsloop train`) to store a new ranking reference",
            )
        return cls(
            k=int(data["k"]),
            users=Profile.from_json(json.dumps(data["users"])),
            items=Profile.from_json(json.dumps(data["items"])),
            scores=Profile.from_json(json.dumps(data["scores"])),
            visit_counts={str(k): int(v) for k, v in data["visit_counts"].items()},
            list_counts={str(k): int(v) for k, v in data["list_counts"].items()},
            coverage=data.get("coverage"),
            catalogue_size=int(data["catalogue_size"]),
            n_users=int(data["n_users"]),
            ndcg=data.get("ndcg"),
            notes=list(data.get("notes", [])),
        )


def score_profile(scores: np.ndarray, k: int) -> Profile:
    """Reference profiles of a (lists × k) score matrix: every rank and each band."""
    import pandas as pd

    from opsloop.data.features import FeatureSpec

    matrix = np.asarray(scores, dtype=float)[:, :k]
    columns = {SCORE: matrix[np.isfinite(matrix)]}
    columns.update({b.name: band_scores(matrix, b) for b in rank_bands(k)})
    return Profile(
        n_rows=len(matrix),
        features={
            name: reference_feature(pd.Series(values), FeatureSpec(name, "numeric", "float64"))
            for name, values in columns.items()
        },
    )


def ranking_reference(
    data: RankingData,
    top: TopK,
    *,
    k: int,
    visits: pd.DataFrame | None = None,
    ndcg: float | None = None,
) -> RankingReference:
    """The reference of a version (module docstring). `visits`: the reference visits when
    not `data.interactions` (columns of `data`'s user and item columns); `top`: the
    model's lists (its catalogue: the items table at the cut-off); `ndcg`: its offline
    NDCG@k, shown beside the realised one."""
    import pandas as pd

    if not 1 <= k <= top.k:
        raise InvalidInputError(
            "the ranking reference's k must be within the lists' length",
            expected=f"1 <= k <= {top.k}",
            got=f"k={k}",
            fix="pass ranking.k of the project",
        )
    visits = data.interactions if visits is None else visits
    as_of = None
    if data.time_column in visits.columns and len(visits):
        as_of = pd.to_datetime(visits[data.time_column], utc=True).max()
    for column in (data.user_column, data.item_column):
        if column not in visits.columns:
            raise InvalidInputError(
                f"the reference visits lack the column {column!r}",
                expected=f"columns {data.user_column!r} and {data.item_column!r}",
                got=f"columns {list(visits.columns)}",
                fix="pass the split's evaluation visits with the project's column names",
            )
    user_ids = visits[data.user_column].to_numpy()
    item_ids = visits[data.item_column].to_numpy()
    users = table_features(
        active_users(data.users, data.user_column, user_ids), data.user_column, USER_PREFIX, as_of
    )
    items = table_features(
        visited_items(data.items, data.item_column, item_ids), data.item_column, ITEM_PREFIX, as_of
    )
    listed = top.items[:, :k]
    shown = listed[listed >= 0]
    catalogue_size = len(top.catalogue)
    return RankingReference(
        k=k,
        users=profile_table(users),
        items=profile_table(items),
        scores=score_profile(top.scores, k),
        visit_counts=visitor_counts(user_ids, item_ids),
        list_counts=item_counts(top.catalogue[shown]),
        coverage=len(np.unique(shown)) / catalogue_size if catalogue_size else None,
        catalogue_size=catalogue_size,
        n_users=int((listed >= 0).any(axis=1).sum()),
        ndcg=ndcg,
    )
