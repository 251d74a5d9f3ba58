"""Training a recommender (`task: ranking`, docs/ranking.md) in the pipeline's stages:

- **load**: load(window) returns a `RankingData` (the window's interactions, the users and
  items tables as known at its end); its three tables' fingerprint is the data digest, so a
  retrain on unchanged data, code and configuration stops here (`Unchanged`);
- **validate**: columns as configured, ids unique, event times as date-times
  (`ranking.checks`; a failure is a `data_invalid` event);
- **split**: `ranking.split.time_split` at the window's end − `ranking.holdout`;
- **fit**: build()'s recommender on the interactions before the cut-off, given
  `ranking.candidates` when it has a `max_candidates` parameter (`use_candidates`);
- **evaluate**: its top k for each user with a relevant interaction after the cut-off, and
  every ranking metric (`ranking.metrics`);
- **register**: `train/ranking_register.py`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from opsloop.core.aliases import CHAMPION
from opsloop.errors import (
    ConfigError,
    DataValidationError,
    OpsloopError,
    StateError,
    UserCodeError,
)
from opsloop.faults import crash_point
from opsloop.runtime import Runtime
from opsloop.stages import StageRecorder
from opsloop.train.inputs import Unchanged, training_inputs, unchanged_since
from opsloop.train.ranking_register import FittedRecommender, register_recommender
from opsloop.train.recorded import record_data_invalid
from opsloop.train.register import ranking_monitor_artifacts
from opsloop.train.trained import TrainedVersion
from opsloop.train.window import PlannedWindow, load_window

if TYPE_CHECKING:
    from opsloop.config.ranking import RankingConfig
    from opsloop.ranking.data import RankingData

# the parameter of a recommender that `ranking.candidates` sets (TwoStageRecommender's)
CANDIDATES_PARAMETER = "max_candidates"


def data_fingerprint(data: RankingData) -> str:
    """The digest of a training's three tables (a new restaurant changes it)."""
    from opsloop.data.fingerprint import fingerprint_tables

    return fingerprint_tables(
        {"interactions": data.interactions, "users": data.users, "items": data.items}
    )


def train_ranking_version(
    rt: Runtime,
    rec: StageRecorder,
    *,
    window: PlannedWindow,
    trigger: str = "manual",
    force: bool = False,
) -> TrainedVersion | Unchanged:
    """`train.pipeline.train_version` for a `task: ranking` project."""
    from opsloop.data.quality import require_quality
    from opsloop.ranking.checks import check_ranking_data
    from opsloop.ranking.holdout import ranking_holdout
    from opsloop.registry.base import LoadedModel

    cfg = rt.config
    if cfg.ranking is None:  # the configuration's own check makes this unreachable
        raise StateError("task: ranking needs a `ranking:` section in opsloop.yaml")
    with rec.stage("load") as d:
        champion = rt.registry.find_alias(rt.model, CHAMPION)
        loaded = load_window(rt, window, champion, d)
        data = loaded.data
        assert data is not None  # load_window returns the RankingData for task: ranking
        for warning in loaded.warnings:
            if rec.progress:
                rec.progress("load", f"warning: {warning}")
        if cfg.data.feedback.enabled:
            d["feedback"] = "not used by task: ranking (load() returns the visits)"
        inputs = training_inputs(rt, data=data_fingerprint(data))
        d.update(
            rows=len(data.interactions),
            users=len(data.users),
            items=len(data.items),
            data_fingerprint=inputs.data,
        )
        unchanged = (
            None if force else unchanged_since(inputs, champion, rows=len(data.interactions))
        )
        if unchanged is not None:
            d["unchanged_since"] = unchanged.champion
            return replace(unchanged, window=loaded.window.key)
    crash_point("train.after_load")

    with rec.stage("validate") as d:
        quality = check_ranking_data(
            data, cfg.ranking, time_column=cfg.time_column, min_rows=cfg.data.quality.min_rows
        )
        d["quality"] = [q.to_dict() for q in quality]
        try:
            require_quality(quality)
        except DataValidationError as exc:
            record_data_invalid(
                rt, exc, window=loaded.window.key, trigger=trigger, quality=d["quality"]
            )
            raise

    with rec.stage("split") as d:
        holdout = ranking_holdout(data, cfg.ranking, loaded.window.end)
        split = holdout.split
        train_rows = len(split.train.interactions)
        after = (data.interactions[data.time_column] >= split.cutoff).to_numpy()
        period = data.interactions.loc[after].reset_index(drop=True)
        d.update(
            cutoff=str(split.cutoff),
            train_rows=train_rows,
            holdout_rows=len(period),
            holdout_users=holdout.evaluated,
            cold_start_users=int(holdout.cold_start.sum()),
            catalogue=len(holdout.catalogue),
            dropped=split.dropped,
        )
        if holdout.evaluated == 0:
            raise DataValidationError(
                f"no user has a relevant interaction in the holdout period from {split.cutoff} "
                f"(ranking.holdout {cfg.ranking.holdout}) to the window's end "
                f"{loaded.window.end:%Y-%m-%d %H:%M:%S}: nothing to evaluate the recommender on",
                got=f"{len(period)} interactions in the period",
                fix="train on a window whose last ranking.holdout has interactions (check "
                "ranking.min_rating and exclude_seen), or lengthen ranking.holdout",
            )

    with rec.stage("fit") as d:
        recommender = rt.build_estimator()
        d["candidates"] = use_candidates(recommender, cfg.ranking)
        t0 = time.perf_counter()
        try:
            recommender.fit(holdout.train)
        except OpsloopError:
            raise
        except Exception as exc:
            raise UserCodeError(
                f"fitting the recommender from build() failed: {type(exc).__name__}: {exc}",
                fix="check build()'s recommender against the tables load() returns",
            ) from exc
        d["fit_seconds"] = round(time.perf_counter() - t0, 3)
        d["estimator"] = type(recommender).__name__
    crash_point("train.after_fit")

    with rec.stage("evaluate") as d:
        t0 = time.perf_counter()
        try:
            top, lost = holdout.recommend(recommender)
        except OpsloopError:
            raise
        except Exception as exc:
            raise UserCodeError(
                f"the fitted recommender's recommend() failed: {type(exc).__name__}: {exc}",
            ) from exc
        d["recommend_seconds"] = round(time.perf_counter() - t0, 3)
        measured = holdout.metrics(holdout.per_user(top))
        metrics = measured.as_dict()
        d.update(
            metrics=metrics,
            users=measured.n_evaluated,
            cold_start_users=measured.n_cold_start,
            items_outside_catalogue=lost,
        )
        # what the monitor compares the served lists and the visits with (monitor/ranking)
        monitoring = ranking_monitor_artifacts(
            rt, holdout.train, top, visits=period, ndcg=metrics.get("ndcg_at_k")
        )
    holdout = replace(holdout, lists=top)

    fitted = FittedRecommender(
        data, holdout, recommender, measured, inputs, len(period), artifacts=monitoring
    )
    with rec.stage("register") as d:
        mv = register_recommender(
            rt, fitted, window=loaded.record, trigger=trigger, pipeline_run=rec.run_id, detail=d
        )
    crash_point("train.after_registered")

    return TrainedVersion(
        version=mv.version,
        mlflow_run_id=mv.run_id,
        pipeline_run=rec.run_id,
        metrics=metrics,
        holdout=period,
        challenger=LoadedModel(rt.model, mv.version, recommender, [], cfg.task),
        champion=champion,
        window=loaded.window,
        trigger=trigger,
        rows={
            "total": len(data.interactions),
            "train": train_rows,
            "holdout": len(period),
            "users": holdout.evaluated,
        },
        loaded=loaded,
        ranking=holdout,
    )


def use_candidates(recommender: Any, ranking: RankingConfig) -> int | str:
    """Set `ranking.candidates` as the most candidates per user that `recommender` ranks,
    when it has that parameter (`CANDIDATES_PARAMETER`, left None by build()); what was
    set, or why nothing was. A build() that sets another value contradicts the
    configuration: refused before anything is fitted."""
    if not hasattr(recommender, CANDIDATES_PARAMETER):
        return f"not used: {type(recommender).__name__} has no {CANDIDATES_PARAMETER} parameter"
    own = getattr(recommender, CANDIDATES_PARAMETER)
    if own is not None and own != ranking.candidates:
        written = "candidates" in ranking.model_fields_set
        raise ConfigError(
            f"build() returns a {type(recommender).__name__} with {CANDIDATES_PARAMETER}="
            f"{own!r}, but ranking.candidates is {ranking.candidates}"
            + ("" if written else " (its default: opsloop.yaml does not set it)")
            + ": opsloop gives the model ranking.candidates",
            expected=f"{CANDIDATES_PARAMETER} left out of build() (or equal to ranking.candidates)",
            got=f"{CANDIDATES_PARAMETER}={own!r}",
            fix=f"set `candidates: {own}` in the `ranking:` section of opsloop.yaml and drop "
            f"{CANDIDATES_PARAMETER} from build()",
        )
    setattr(recommender, CANDIDATES_PARAMETER, ranking.candidates)
    return ranking.candidates
