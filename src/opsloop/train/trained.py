"""What a training hands to the rest of the loop (`orchestrate/loop.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.data.window import Window
    from opsloop.ranking.holdout import RankingHoldout
    from opsloop.registry.base import LoadedModel, ModelVersion
    from opsloop.train.window import LoadedWindow


@dataclass(frozen=True, eq=False)
class TrainedVersion:
    """A registered challenger and what the next steps of the loop need from its training."""

    version: str
    mlflow_run_id: str | None
    pipeline_run: int
    metrics: dict[str, float]
    holdout: pd.DataFrame
    challenger: LoadedModel  # the fitted model, as `version`
    champion: ModelVersion | None  # the champion when training started (the gate's opponent)
    window: Window
    trigger: str
    rows: dict[str, int]  # total, train, holdout (+ loaded, feedback with data.feedback)
    loaded: LoadedWindow | None = None  # the window's record and the load's warnings
    # `task: ranking`: the split, its users and the version's lists on them (the gate's
    # evaluation); `holdout` then holds the interactions of the holdout period
    ranking: RankingHoldout | None = None
