"""The project's code: the data for a time window, and the recommender.

opsloop calls load(window) for training and retraining (window.start / window.end are UTC
datetimes) and build() for a fresh, unfitted recommender. load() returns the three tables
as they were known at the window's end: the visits in [start, end), the users who had
signed up and the restaurants that had opened by then.
"""

from pathlib import Path

import pandas as pd

from opsloop.ranking.data import RankingData

DATA = Path(__file__).parent / "data"
USER, ITEM, TIME, RATING = "user_id", "restaurant_id", "visited_at", "rating"


def load(window) -> RankingData:
    files = sorted(DATA.glob("visits*.parquet"))  # the history and any visits that arrived
    if not files:
        raise FileNotFoundError(f"no visits*.parquet files in {DATA}")
    start, end = pd.Timestamp(window.start), pd.Timestamp(window.end)
    visits = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    times = pd.to_datetime(visits[TIME], utc=True)
    visits = visits[(times >= start) & (times < end)].sort_values(TIME, kind="stable")
    users = pd.read_parquet(DATA / "users.parquet")
    restaurants = pd.read_parquet(DATA / "restaurants.parquet")
    return RankingData(
        interactions=visits.reset_index(drop=True),
        users=users[pd.to_datetime(users["signup_date"], utc=True) < end],
        items=restaurants[pd.to_datetime(restaurants["opening_date"], utc=True) < end],
        user_column=USER,
        item_column=ITEM,
        time_column=TIME,
        rating_column=RATING,
    )


def build():
    # Candidates (popular in the user's area, of their cuisines, co-visited, new openings)
    # ranked by a model over user x restaurant features; PopularityRecommender() is the
    # baseline it must beat.
    from opsloop.ranking.models import TwoStageRecommender

    return TwoStageRecommender(
        area_column="area", category_column="cuisine", item_date_column="opening_date"
    )
