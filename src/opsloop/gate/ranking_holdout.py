"""The ranking gate on a version's holdout (`task: ranking`): the challenger and the
champion recommend for the same users from the same data (the training window as known at
its cut-off) over the same catalogue (`ranking.holdout.RankingHoldout`), and
`gate.ranking.run_ranking_gate` judges the per-user metrics. The users are the holdout's
evaluation users plus the regression set's (`gate.regression_set`: their lists must not
collapse, whether or not they came back in the period); slices come from the users table
and `history` (new / returning)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opsloop.errors import OpsloopError, StateError
from opsloop.gate.ranking import Ranked, run_ranking_gate
from opsloop.gate.ranking_regression import load_regression_users
from opsloop.runtime import Runtime

if TYPE_CHECKING:
    from opsloop.gate.evaluate import GateReport
    from opsloop.ranking.holdout import RankingHoldout
    from opsloop.registry.base import LoadedModel


def run_holdout_gate(
    rt: Runtime,
    *,
    holdout: RankingHoldout,
    challenger: LoadedModel,
    champion: LoadedModel | None,
    window: str | None,
) -> GateReport:
    """The gate report of a ranking challenger on `holdout` (`holdout.lists`, when set,
    are the challenger's lists for its users: only the others are recommended)."""
    cfg = rt.config
    assert cfg.ranking is not None  # task: ranking has the section (config/project.py)
    regression = None
    if cfg.gate.regression_set is not None:
        regression = load_regression_users(
            cfg.gate.regression_set, rt.root, cfg.ranking.user_column
        )
        holdout = holdout.with_users(regression.users)
    ours, _ = holdout.lists_of(challenger.estimator, holdout.lists)
    theirs = None
    if champion is not None:
        try:
            top, _ = holdout.lists_of(champion.estimator)
        except OpsloopError:
            raise
        except Exception as exc:
            raise StateError(
                f"champion version {champion.version} of {rt.model!r} could not recommend on "
                f"the holdout: {type(exc).__name__}: {exc}",
                fix="the gate compares both versions on the same data; check that the "
                "champion's recommender still accepts the tables load() returns",
            ) from exc
        theirs = Ranked(champion.version, holdout.per_user(top))
    split = holdout.split
    return run_ranking_gate(
        cfg.model,
        cfg.gate,
        Ranked(challenger.version, holdout.per_user(ours)),
        theirs,
        cold_start=holdout.cold_start,
        users=holdout.user_frame(),
        regression=regression,
        window=window,
        holdout_start=_iso(split.cutoff),
        holdout_end=_iso(split.cutoff + split.horizon),
    )


def _iso(value: object) -> str:
    iso = getattr(value, "isoformat", None)
    return str(iso()) if callable(iso) else str(value)
