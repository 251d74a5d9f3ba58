"""The restaurants example: a recommender's data — users with areas and cuisine tastes,
restaurants with cuisine, price, area, rating and opening date, and their visits with
ratings over time — with switchable change (a cuisine trend, new openings, an area's users
moving). See docs/ranking.md, "The restaurants example"."""

from opsloop.examples.restaurants.generate import (
    RESTAURANTS_FILE,
    USERS_FILE,
    VISITS_FILE,
    RestaurantsData,
    WrittenTables,
    arriving,
    from_scenario,
    generate,
    write_table,
)
from opsloop.examples.restaurants.visits import ITEM, RATING, TIME, USER
from opsloop.examples.restaurants.world import AREAS, CHANGES, CUISINES, Scenario, World

__all__ = [
    "AREAS",
    "CHANGES",
    "CUISINES",
    "ITEM",
    "RATING",
    "RESTAURANTS_FILE",
    "TIME",
    "USER",
    "USERS_FILE",
    "VISITS_FILE",
    "RestaurantsData",
    "Scenario",
    "World",
    "WrittenTables",
    "arriving",
    "from_scenario",
    "generate",
    "write_table",
]
