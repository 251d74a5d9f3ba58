"""One window of a recommender, judged against its `RankingReference`: the inputs
(`RankingWindow`, storage-free frames in the contracts' columns), `monitor_ranking` and
its typed result (`RankingReport`).

The checks, each with its threshold and breach flag (docs/monitoring.md#recommenders):

- **feature drift** — the users table's columns over the window's visiting users, the
  items table's over its visits, against the reference (`monitor.drift`: tests, distances,
  materiality); breach: the share of drifted features reaches `drift.share`;
- **score drift** — the scores of the users' own lists the visits were joined to, all ranks
  (`score`) and per band (`score@1`, `score@2-5`, `score@6-k`); breach: any drifted;
- **popularity shift** — the item shares of the visits and of those lists' slots
  (`opsloop.monitor.ranking.popularity`); breach: detectable and material (the
  recommendations' is reported, it fires no trigger);
- **coverage** — distinct items of the own lists served in the window over the items
  table's size; breach: below the reference's × (1 − `ranking.coverage_drop`);
- **fallback share** — visiting users without a list of their own at a visit
  (`opsloop.monitor.ranking.served`); breach: above `ranking.max_fallback_share`;
- **realised metric** — `monitor.performance.metric` (e.g. `ndcg_at_k`) of the lists the
  visits were joined to; breach: below `performance.floor` (with `performance.min_labels`
  lists judged at least).

The realised metric's breach fires the `performance` trigger (`retrain.on`), every other
one but the recommendations' popularity shift the `drift` trigger.

The summary it stores has the tabular monitor's keys — `drift` (the features; the
all-ranks score as `prediction`), `performance`, `performance_value`, … — so `opsloop
status`, the API, the dashboard and the HTML report read it unchanged, and one more,
``ranking``, with every check above. `n_rows` counts the lists served in the window,
`n_labelled` the visits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.config import LOWER_IS_BETTER
from opsloop.core.profile import Profile, profile_frame
from opsloop.monitor.drift import DriftResult, FeatureDrift, detect_drift, feature_drift
from opsloop.monitor.ranking.frames import normalise_history, normalise_lists, normalise_visits
from opsloop.monitor.ranking.popularity import PopularityShift, popularity_shift
from opsloop.monitor.ranking.reference import (
    ITEM_PREFIX,
    SCORE,
    USER_PREFIX,
    RankingReference,
    active_users,
    band_scores,
    item_counts,
    table_features,
    visited_items,
    visitor_counts,
)
from opsloop.monitor.ranking.served import (
    Fallback,
    Joined,
    Realised,
    fallback_share,
    join_visits,
    list_table,
    realised_metrics,
)

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.config import MonitorConfig, RankingConfig


@dataclass(frozen=True)
class RankingWindow:
    """What one window of a recommender is judged on, as frames:

    - `lists`: the lists served, one row per (user, rank) in the nightly output's columns
      (contract 3: `<user_column>`, `rank`, `<item_column>`, `score`, `model`, `version`,
      `run_id`; the fallback list's rows have a null user) or the prediction log's
      (contract 4: the same plus `prediction_id`, `ts`, `event_ts`, …), read from
      `monitor.ranking.lookback` before the window to its end; `list_time` names the
      column of when a list began to be served (absent: since before the window);
    - `visits`: the window's visits as the labels store holds them (contract 5:
      `prediction_id` = user id, `label` = item id, `label_ts` = visit time, `rating`);
    - `users`, `items`: the users table and the catalogue as known at the window's end;
    - `history`: the visits before the window (the project's user, item and `history_time`
      columns), for `ranking.exclude_seen`; None: nothing is known to be seen.
    """

    start: datetime
    end: datetime
    lists: pd.DataFrame
    visits: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    history: pd.DataFrame | None = None
    list_time: str = "event_ts"
    history_time: str | None = None


# breaches reported without firing a trigger
QUIET = frozenset({"popularity_shift:recommendations"})


@dataclass(frozen=True)
class Coverage:
    """Distinct items of the users' own lists served in the window over the items table's
    size, the reference's, the floor (reference × (1 − `coverage_drop`)) and the breach."""

    value: float | None
    reference: float | None
    threshold: float | None
    lists: int
    catalogue_size: int
    breach: bool
    judged: bool

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass
class RankingReport:
    """The result of one window (module docstring): each check, typed."""

    window_start: datetime
    window_end: datetime
    k: int
    n_lists: int  # lists served in the window (own and fallback)
    n_visits: int
    features: DriftResult
    scores: list[FeatureDrift]  # all ranks first, then each band
    popularity: PopularityShift  # of the visits
    recommended: PopularityShift  # of the joined lists' slots
    coverage: Coverage
    fallback: Fallback
    realised: Realised
    performance_metric: str
    performance_value: float | None
    performance_floor: float | None
    performance_degraded: bool
    offline_ndcg: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return self.n_lists

    @property
    def n_labelled(self) -> int:
        return self.n_visits

    @property
    def drift(self) -> DriftResult:
        return self.features

    @property
    def breaches(self) -> list[str]:
        """The checks breached, by name."""
        out = []
        if self.features.detected:
            out.append("feature_drift")
        out += [f"score_drift:{s.name}" for s in self.scores if s.drifted]
        if self.popularity.breach:
            out.append("popularity_shift:visits")
        if self.recommended.breach:
            out.append("popularity_shift:recommendations")
        if self.coverage.breach:
            out.append("coverage")
        if self.fallback.breach:
            out.append("fallback_share")
        if self.performance_degraded:
            out.append(f"realised:{self.performance_metric}")
        return out

    @property
    def drift_detected(self) -> bool:
        """Any breach that fires the `drift` trigger: every check but the realised metric
        (`performance`) and the popularity shift of the recommendations, which is reported
        only — lists move whenever the model follows the data it is given; what users
        choose (the visits' shift) is what a retraining answers."""
        return any(b not in QUIET and not b.startswith("realised:") for b in self.breaches)

    def to_dict(self) -> dict[str, Any]:
        drift = self.features.to_dict()
        if self.scores:
            drift["prediction"] = self.scores[0].to_dict()
        performance = dict(self.realised.metrics)
        if self.coverage.value is not None:
            performance["coverage"] = self.coverage.value
        return {
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "n_rows": self.n_rows,
            "n_labelled": self.n_labelled,
            "n_labels_unusable": 0,  # every visit is used (below min_rating: not relevant)
            "drift": drift,
            "drifted_features": self.features.drifted_features,
            "performance": performance,
            "performance_metric": self.performance_metric,
            "performance_value": self.performance_value,
            "performance_floor": self.performance_floor,
            "performance_degraded": self.performance_degraded,
            "notes": self.notes,
            "ranking": {
                "k": self.k,
                "breaches": self.breaches,
                "scores": [s.to_dict() for s in self.scores],
                "popularity": self.popularity.to_dict(),
                "recommended": self.recommended.to_dict(),
                "coverage": self.coverage.to_dict(),
                "fallback": self.fallback.to_dict(),
                "realised": self.realised.to_dict(),
                "offline_ndcg": self.offline_ndcg,
            },
        }


def _feature_drift(
    window: RankingWindow,
    visits: pd.DataFrame,
    reference: RankingReference,
    ranking: RankingConfig,
    cfg: MonitorConfig,
) -> DriftResult:
    """Users-table columns over the visiting users, items-table columns over the visits."""
    import pandas as pd

    from opsloop.data.features import FeatureSpec

    users = table_features(
        active_users(window.users, ranking.user_column, visits["user"].to_numpy()),
        ranking.user_column,
        USER_PREFIX,
        window.end,
    )
    items = table_features(
        visited_items(window.items, ranking.item_column, visits["item"].to_numpy()),
        ranking.item_column,
        ITEM_PREFIX,
        window.end,
    )
    ref = reference.feature_profile()
    current = profile_frame(users, reference.users)
    current.features.update(profile_frame(items, reference.items).features)
    specs = [FeatureSpec(n, fp.kind, "") for n, fp in ref.features.items()]  # type: ignore[arg-type]
    values = {}
    for frame in (users, items):
        for name in frame.columns:
            fp = ref.features.get(name)
            if fp is not None and fp.kind == "numeric":
                x = pd.to_numeric(frame[name], errors="coerce").to_numpy(
                    dtype=float, na_value=np.nan
                )
                values[name] = x[np.isfinite(x)][: cfg.drift.exact_max_rows + 1].tolist()
    return detect_drift(ref, current, specs, cfg.drift, values)


def _score_drift(
    joined: Joined, lists: pd.DataFrame, reference: RankingReference, cfg: MonitorConfig
) -> list[FeatureDrift]:
    """The scores of the users' own lists the window's visits were joined to: all ranks,
    then each band (module docstring)."""
    import pandas as pd

    ids = np.unique(joined.visits.loc[joined.visits["own"], "list"].to_numpy())
    rows = lists[lists["list"].isin(ids) & (lists["rank"] >= 1) & (lists["rank"] <= reference.k)]
    matrix = np.full((len(ids), reference.k), np.nan)
    at = np.searchsorted(ids, rows["list"].to_numpy())
    matrix[at, rows["rank"].to_numpy() - 1] = rows["score"].to_numpy(dtype=float)
    columns = {SCORE: matrix[np.isfinite(matrix)]}
    columns.update({b.name: band_scores(matrix, b) for b in reference.bands})
    out = []
    for name, x in columns.items():
        ref = reference.scores.features.get(name)
        if ref is None:
            continue
        layout = Profile(ref.count, {name: ref})
        cur = profile_frame(pd.DataFrame({name: x}), layout).features[name]
        out.append(feature_drift(ref, cur, cfg.drift, x[: cfg.drift.exact_max_rows + 1].tolist()))
    return out


def _coverage(
    table: pd.DataFrame,
    lists: pd.DataFrame,
    items: pd.DataFrame,
    reference: RankingReference,
    drop: float,
) -> Coverage:
    served = table.loc[table["served"] & ~table["fallback"], "list"].to_numpy()
    rows = lists[lists["list"].isin(served) & (lists["rank"] >= 1) & (lists["rank"] <= reference.k)]
    size = len(items)
    value = rows["item"].nunique() / size if size and len(served) else None
    threshold = None if reference.coverage is None else reference.coverage * (1 - drop)
    return Coverage(
        value=value,
        reference=reference.coverage,
        threshold=threshold,
        lists=len(served),
        catalogue_size=size,
        breach=bool(value is not None and threshold is not None and value < threshold),
        judged=value is not None and threshold is not None,
    )


def monitor_ranking(
    window: RankingWindow,
    reference: RankingReference,
    *,
    monitor: MonitorConfig,
    ranking: RankingConfig,
) -> RankingReport:
    """Every check of the module docstring for `window` against `reference`."""
    cfg = monitor.ranking
    notes: list[str] = []
    user, item = ranking.user_column, ranking.item_column
    lists = normalise_lists(window.lists, user, item, window.list_time)
    visits = normalise_visits(window.visits)
    history = normalise_history(window.history, user, item, window.history_time)
    table = list_table(lists, window.start, window.end)
    joined = join_visits(visits, table)
    k = min(ranking.k, reference.k)
    min_rows = monitor.drift.min_rows
    popularity = popularity_shift(
        reference.visit_counts,
        visitor_counts(visits["user"].to_numpy(), visits["item"].to_numpy()),
        of="visits",
        floor=cfg.popularity_floor,
        p_value=monitor.drift.p_value,
        draws=cfg.popularity_draws,
        min_rows=min_rows,
    )
    own = np.unique(joined.visits.loc[joined.visits["own"], "list"].to_numpy())
    slots = lists.loc[lists["list"].isin(own) & lists["rank"].between(1, k), "item"]
    recommended = popularity_shift(
        reference.list_counts,
        item_counts(slots.to_numpy()),
        of="recommendations",
        floor=cfg.popularity_floor,
        p_value=monitor.drift.p_value,
        draws=cfg.popularity_draws,
        min_rows=min_rows,
    )
    realised = realised_metrics(
        joined,
        lists,
        k=k,
        min_rating=ranking.min_rating,
        graded=ranking.rating_column is not None,
        exclude_seen=ranking.exclude_seen,
        history=history,
    )
    perf = monitor.performance
    value: float | None = None
    degraded = False
    if realised.n_lists >= perf.min_labels:
        value = realised.metrics.get(perf.metric)  # (coverage: the coverage check)
        if value is not None and perf.floor is not None:
            lower = perf.metric in LOWER_IS_BETTER
            degraded = value > perf.floor if lower else value < perf.floor
    else:
        notes.append(
            f"{realised.n_lists} lists with a relevant visit (< performance.min_labels "
            f"{perf.min_labels}): the realised {perf.metric} not judged"
        )
    if not len(visits):
        notes.append("no visits in the window: features, popularity and fallback not judged")
    if not len(table):
        notes.append("no lists read for the window: has the nightly run written any?")
    return RankingReport(
        window_start=window.start,
        window_end=window.end,
        k=k,
        n_lists=int(table["served"].sum()) if len(table) else 0,
        n_visits=len(visits),
        features=_feature_drift(window, visits, reference, ranking, monitor),
        scores=_score_drift(joined, lists, reference, monitor),
        popularity=popularity,
        recommended=recommended,
        coverage=_coverage(table, lists, window.items, reference, cfg.coverage_drop),
        fallback=fallback_share(joined, threshold=cfg.max_fallback_share, min_users=min_rows),
        realised=realised,
        performance_metric=perf.metric,
        performance_value=value,
        performance_floor=perf.floor,
        performance_degraded=degraded,
        offline_ndcg=reference.ndcg,
        notes=notes,
    )
