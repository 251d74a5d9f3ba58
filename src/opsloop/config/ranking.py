"""`ranking:` — the columns, list length and time-based evaluation of a `task: ranking`
project (a recommender).

For a ranking project `load(window)` returns an `opsloop.ranking.data.RankingData`: the
interactions in the window (one row per event: user, item, time, optional rating), the
users table and the item catalogue as known at the window's end. The project's
`id_column` is the user column (recommendations are made, logged and judged per user) and
its `target` is the item column (what arrives later for a user is the item they chose);
`time_column` is the interaction's event time. `ProjectConfig` checks these agree.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from opsloop.config.base import ConfigModel, Duration

# The column of the per-user slices that says whether a user had interactions before the
# cut-off: values `new` (none: a cold-start user) and `returning`.
HISTORY_SLICE = "history"


class RankingConfig(ConfigModel):
    """A recommender's settings: who is recommended what, how long the lists are, and how
    the time-based split judges them."""

    user_column: str = Field(min_length=1, description="Column naming the user.")
    item_column: str = Field(min_length=1, description="Column naming the item.")
    rating_column: str | None = Field(
        default=None,
        min_length=1,
        description="Column of an explicit rating of the interaction (graded relevance); "
        "none: every interaction counts as 1.",
    )
    rating_range: tuple[float, float] | None = Field(
        default=None,
        description="The lowest and highest rating (e.g. [1, 5]): an arriving interaction "
        "(a visit added as a label) rated outside it is invalid; none: any finite rating.",
    )
    k: int = Field(default=10, ge=1, le=1000, description="Length of each user's list.")
    min_rating: float | None = Field(
        default=None,
        description="An interaction is relevant when its rating is at least this (needs "
        "`rating_column`); none: every interaction after the cut-off is relevant.",
    )
    holdout: Duration = Field(
        default=timedelta(days=7),
        description="The evaluation period at the end of the training window: the model is "
        "trained on the interactions before `window end - holdout` (the cut-off) and judged on "
        "each user's interactions in [cut-off, window end).",
    )
    candidates: int = Field(
        default=200,
        ge=1,
        le=10_000,
        description="The most candidates per user the recommender's second stage ranks (at "
        "least k): given at training to a recommender with a `max_candidates` parameter "
        "(opsloop's TwoStageRecommender); others do not use it.",
    )
    exclude_seen: bool = Field(
        default=True,
        description="Leave items a user interacted with before the cut-off out of their list.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RankingConfig:
        if self.user_column == self.item_column:
            raise ValueError("user_column and item_column must be two different columns")
        if self.rating_column in (self.user_column, self.item_column):
            raise ValueError("rating_column must differ from user_column and item_column")
        if self.min_rating is not None and self.rating_column is None:
            raise ValueError("min_rating needs rating_column: the column it is compared with")
        if self.rating_range is not None:
            low, high = self.rating_range
            if self.rating_column is None:
                raise ValueError("rating_range needs rating_column: the column it bounds")
            if not low < high:
                raise ValueError(f"rating_range must be [lowest, highest], got [{low}, {high}]")
            if self.min_rating is not None and not low <= self.min_rating <= high:
                raise ValueError(
                    f"min_rating ({self.min_rating}) must lie within rating_range [{low}, {high}]"
                )
        if self.holdout <= timedelta(0):
            raise ValueError(f"holdout must be a positive duration such as 7d, got {self.holdout}")
        if self.candidates < self.k:
            raise ValueError(
                f"candidates ({self.candidates}) must be at least k ({self.k}): a list of k "
                "is ranked from the candidates"
            )
        return self
