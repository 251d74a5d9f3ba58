"""Which list each visit of a window had been served, and what that says: the lists
served in the window, the fallback share and the realised ranking metrics.

Inputs are normalised frames (`opsloop.monitor.ranking.window` builds them from the
contract's columns); ids are compared as text, as the labels store holds them:

- lists: one row per (list, rank) — ``list`` (an int id), ``user`` (text; None for the
  fallback list), ``time`` (when the list began to be served, UTC), ``rank`` (1..k),
  ``item`` (text), ``score``;
- visits: ``user``, ``item`` (text), ``time`` (UTC), ``rating`` (float, NaN when absent).

**The join, by event time.** A visit at time t by user u was served u's newest own list
with a time ≤ t; without one, the newest fallback list with a time ≤ t (what the web app
answers for a user the run did not score); without either, nothing (`unserved`). A list
is *served in the window* when it began before the window's end and the user's next list
began after the window's start.

**Realised metrics** (`opsloop.ranking.metrics`, the offline definitions): each list that
at least one visit of the window was joined to is a row; its relevant items are the items
of those visits — with `min_rating`, only visits rated at least that; graded by the rating
when `graded` (the project has a rating column), else 1.0; a visit without a rating (the
labels contract allows it: a visit is an implicit positive) counts as relevant at the
lowest relevant gain, `min_rating` (else 1.0), and is counted (`unrated`); an item visited
twice counts once, with its best rating; with `exclude_seen`, a visit to an item the user
had visited before the list began is left out (the list could never hold it), as the
time-based split does. NDCG@k, precision@k, recall@k and MAP@k are means over the lists
with at least one relevant visit (`n_lists`), also split into the users' own lists and the
fallback.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

REALISED = ("ndcg_at_k", "precision_at_k", "recall_at_k", "map_at_k")


@dataclass(frozen=True)
class Joined:
    """Each visit with the list it had been served (`list`: −1 when none) and whether that
    list is the fallback; the lists table (one row per list: ``list``, ``user``, ``time``,
    ``fallback``, ``served``: served in the window)."""

    visits: pd.DataFrame
    lists: pd.DataFrame


def list_table(rows: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """One row per list: its user, time (its rows' earliest), whether it is the fallback,
    and whether it was served in [start, end) (module docstring)."""
    import pandas as pd

    table = (
        rows.groupby("list", sort=True)
        .agg(user=("user", "first"), time=("time", "min"))
        .reset_index()
    )
    table["fallback"] = table["user"].isna()
    table = table.sort_values(["time", "list"], kind="stable").reset_index(drop=True)
    key = table["user"].where(~table["fallback"], "\x00fallback")
    following = table.groupby(key, sort=False)["time"].shift(-1)
    t_start, t_end = pd.Timestamp(start), pd.Timestamp(end)
    table["served"] = (table["time"] < t_end) & (following.isna() | (following > t_start))
    return table


def join_visits(visits: pd.DataFrame, table: pd.DataFrame) -> Joined:
    """The list each visit had been served (module docstring): `visits` the normalised
    visits, `table` the lists' `list_table`."""
    import pandas as pd

    order = visits.sort_values("time", kind="stable").reset_index(drop=True)
    own = table.loc[~table["fallback"], ["list", "user", "time"]].sort_values("time")
    fallback = table.loc[table["fallback"], ["list", "time"]].sort_values("time")
    joined = pd.merge_asof(
        order, own.rename(columns={"list": "own"}), on="time", by="user", direction="backward"
    )
    joined = pd.merge_asof(
        joined, fallback.rename(columns={"list": "default"}), on="time", direction="backward"
    )
    own_list = joined["own"].to_numpy(dtype=float)
    default = joined["default"].to_numpy(dtype=float)
    chosen = np.where(np.isnan(own_list), default, own_list)
    out = order.assign(
        list=np.where(np.isnan(chosen), -1, chosen).astype(np.int64),
        fallback=np.isnan(own_list) & ~np.isnan(default),
        own=~np.isnan(own_list),
    )
    return Joined(out, table)


@dataclass(frozen=True)
class Fallback:
    """The window's visiting users, those who had no list of their own at one of their
    visits (`fallback_users`: served the fallback list — the web app's answer for a user
    the run did not score), of them those with no fallback list in the lists read either
    (`unserved_users`: e.g. a log without the fallback rows), their share, its limit and
    whether it is breached."""

    users: int
    fallback_users: int
    unserved_users: int
    share: float | None
    threshold: float
    breach: bool
    judged: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fallback_share(joined: Joined, *, threshold: float, min_users: int) -> Fallback:
    v = joined.visits
    users = v["user"].nunique()
    without = v.loc[~v["own"].to_numpy(), ["user", "list"]]
    fallback_users = without["user"].nunique()
    unserved = without.loc[without["list"].to_numpy() < 0, "user"].nunique()
    judged = users >= min_users and users > 0
    share = fallback_users / users if users else None
    return Fallback(
        users=int(users),
        fallback_users=int(fallback_users),
        unserved_users=int(unserved),
        share=share,
        threshold=threshold,
        breach=bool(judged and share is not None and share > threshold),
        judged=bool(judged),
    )


@dataclass(frozen=True)
class Realised:
    """The realised metrics at k of the lists the window's visits were joined to (module
    docstring): `metrics` (REALISED names; absent: no list had a relevant visit), `own`
    and `fallback` the same over the users' own lists and the fallback's, `n_lists` the
    lists with at least one relevant visit (`own_lists` of them the users' own),
    `n_relevant` their relevant (list, item) pairs, and what was left out:
    `below_rating` (rated under `min_rating`), `unrated` (kept, at the lowest gain), `seen`
    (visited before the list began), `unserved` (no list at all)."""

    metrics: dict[str, float]
    own: dict[str, float]
    fallback: dict[str, float]
    n_lists: int
    own_lists: int
    n_relevant: int
    below_rating: int
    unrated: int
    seen: int
    unserved: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seen(visits: pd.DataFrame, history: pd.DataFrame | None, list_time: pd.Series) -> np.ndarray:
    """Whether each joined visit's (user, item) was first visited before its list began."""
    import pandas as pd

    parts = [visits[["user", "item", "time"]]]
    if history is not None and len(history):
        parts.append(history[["user", "item", "time"]])
    every = pd.concat(parts, ignore_index=True)
    first = every.groupby(["user", "item"], sort=False)["time"].min().rename("first")
    found = visits[["user", "item"]].join(first, on=["user", "item"])["first"]
    seen: np.ndarray = (found.to_numpy() < list_time.to_numpy()) & found.notna().to_numpy()
    return seen


def realised_metrics(
    joined: Joined,
    lists: pd.DataFrame,
    *,
    k: int,
    min_rating: float | None,
    graded: bool,
    exclude_seen: bool,
    history: pd.DataFrame | None = None,
) -> Realised:
    """The realised metrics (module docstring); `lists` the normalised list rows,
    `history` the visits before the window (``user``, ``item``, ``time``) for
    `exclude_seen`."""
    import pandas as pd

    from opsloop.ranking.data import PAD, TopK
    from opsloop.ranking.metrics import metric_value, per_user_metrics
    from opsloop.ranking.relevance import relevant_from_interactions

    v = joined.visits
    unserved = int((v["list"] < 0).sum())
    v = v[v["list"].to_numpy() >= 0]
    rating = v["rating"].to_numpy(dtype=float)
    missing = np.isnan(rating)
    floor = 1.0 if min_rating is None else float(min_rating)
    v = v.assign(gain=np.where(missing, floor, rating) if graded else 1.0)
    rated = missing | (True if min_rating is None else rating >= min_rating)
    below, unrated = int((~rated).sum()), int((missing & rated).sum())
    v = v[rated]
    seen = 0
    if exclude_seen and len(v):
        times = joined.lists.set_index("list")["time"]
        gone = _seen(v, history, times.reindex(v["list"].to_numpy()).reset_index(drop=True))
        seen = int(gone.sum())
        v = v[~gone]
    ids = np.unique(v["list"].to_numpy())
    if not len(ids):
        return Realised({}, {}, {}, 0, 0, 0, below, unrated, seen, unserved)
    rows = lists[lists["list"].isin(ids) & lists["rank"].between(1, k) & lists["item"].notna()]
    catalogue = pd.Index(pd.unique(pd.concat([rows["item"], v["item"]], ignore_index=True)))
    n = len(ids)
    items = np.full((n, k), PAD, dtype=np.int64)
    scores = np.full((n, k), np.nan)
    at = np.searchsorted(ids, rows["list"].to_numpy())
    rank = rows["rank"].to_numpy(dtype=np.int64) - 1
    items[at, rank] = catalogue.get_indexer(rows["item"])
    scores[at, rank] = rows["score"].to_numpy(dtype=float)
    top = TopK(ids, items, scores, catalogue.to_numpy())
    frame = pd.DataFrame(
        {
            "list": v["list"].to_numpy(),
            "item": v["item"].to_numpy(),
            "gain": v["gain"].to_numpy(dtype=float),
        }
    )
    built = relevant_from_interactions(
        frame,
        user_column="list",
        item_column="item",
        catalogue=top.catalogue,
        users=ids,
        gain_column="gain",
    )
    per_user = per_user_metrics(top, built.relevant, k=k)
    fallback_ids = joined.lists.loc[joined.lists["fallback"], "list"].to_numpy()
    is_fallback = np.isin(ids, fallback_ids)

    def values(mask: np.ndarray) -> dict[str, float]:
        part = per_user.subset(mask)
        found = {name: metric_value(name, part) for name in REALISED}
        return {name: float(x) for name, x in found.items() if x is not None}

    judged = per_user.n_relevant > 0
    return Realised(
        metrics=values(np.ones(n, dtype=bool)),
        own=values(~is_fallback),
        fallback=values(is_fallback),
        n_lists=int(judged.sum()),
        own_lists=int((judged & ~is_fallback).sum()),
        n_relevant=int(per_user.n_relevant.sum()),
        below_rating=below + built.invalid_gains,
        unrated=unrated,
        seen=seen,
        unserved=unserved,
    )
