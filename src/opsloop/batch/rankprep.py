"""What both engines' ranking runs share (`ranking.py` on DuckDB, `spark_ranking.py` on
Spark): the checks of the input's user column, the version's recommender and the context
(`Prepared`), one chunk's lists (`recommend_users`), the fallback list, and the run's
record details.

The fallback list is the list the recommender gives a user it does not know. It is asked
for in the same call as a chunk's users (`Prepared.recommend_with_fallback`: one id known
to nobody appended to the chunk, its list split off), so it comes from the statistics the
recommender builds for that call — no second pass over the history — and it is the list a
call of its own would give, since a user's list depends only on that user (the
`Recommender` contract)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.batch.rankcontext import ScoringContext, load_context
from opsloop.batch.rankrows import RankRows
from opsloop.batch.rankrun import RankedRun
from opsloop.errors import ConfigError, DataValidationError, StateError

if TYPE_CHECKING:
    import pyarrow as pa

    from opsloop.config.ranking import RankingConfig
    from opsloop.ranking.data import RankingData, TopK
    from opsloop.registry.base import LoadedModel
    from opsloop.runtime import Runtime

PATH = "recommender"  # the run's inference path
# names the output or the log gives columns of their own
OWN_COLUMNS = frozenset({"rank", "score", "model", "version", "run_id", "prediction"})
_TEXT, _NUMBER = "text", "number"


@dataclass(frozen=True)
class RecommenderPath:
    """The inference path of a ranking run, as a tabular run's `ArrowScorer` names its
    own: the recommender's `recommend`."""

    reason: str
    path: str = PATH


@dataclass(frozen=True, eq=False)
class Prepared:
    """A ranking run's version, context and row builder, ready to make lists; `known`: the
    user ids the recommender knows (`universe`), `unknown`: one id it does not."""

    ranking: RankingConfig
    recommender: Any
    context: ScoringContext
    rows: RankRows
    known: Any  # pandas Index
    unknown: np.ndarray

    @property
    def scorer(self) -> RecommenderPath:
        return RecommenderPath(f"{type(self.recommender).__name__}.recommend, top {self.ranking.k}")

    def recommend(self, users: np.ndarray) -> TopK:
        return recommend_users(
            self.recommender, self.context.data, users, self.ranking.k, self.ranking.exclude_seen
        )

    def recommend_with_fallback(self, users: np.ndarray) -> tuple[TopK, TopK]:
        """The lists of `users` and the fallback list, from one call of the recommender
        (module docstring)."""
        top = self.recommend(_appended(users, self.unknown))
        return top.take(slice(0, len(users))), top.take(slice(len(users), None))

    def fallback(self, user_type: pa.DataType, top: TopK | None = None) -> pa.Table:
        """The fallback list's output rows (k rows, the user null of `user_type`): the
        list of a user the recommender has never seen — `top` when
        `recommend_with_fallback` gave it, else asked for on its own."""
        if top is None:
            top = self.recommend(self.unknown)
        return self.rows.fallback(top, user_type)


def ranking_of(rt: Runtime) -> RankingConfig:
    """The project's `ranking:` section, its column names checked against the output's."""
    ranking = rt.config.ranking
    assert ranking is not None  # ProjectConfig requires it for task: ranking
    check_names(ranking)
    return ranking


def prepare(rt: Runtime, chosen: str, run_id: str, user_type: str, label: str) -> Prepared:
    """Version `chosen`'s recommender (`modelcache`) and its context (`rankcontext.py`),
    the input's user ids (of DuckDB type `user_type`) checked to be of the users table's
    kind."""
    from opsloop.modelcache import project_cache

    ranking = ranking_of(rt)
    recommender = recommender_of(project_cache(rt).load(chosen), chosen)
    context = load_context(rt, rt.registry.get_version(rt.model, chosen).tags)
    check_id_kinds(user_type, context.data, label)
    rows = RankRows(rt.model, chosen, run_id, ranking.user_column, ranking.item_column)
    known = universe(context.data)
    return Prepared(ranking, recommender, context, rows, known, _unknown_of(known))


def check_no_nulls(nulls: int, label: str, column: str) -> None:
    if nulls:
        raise DataValidationError(
            f"the input {label!r} has {nulls} row(s) without a user id ({column!r} is null)",
            expected="a user id in every row",
            fix=f"filter them, e.g. sql:SELECT * FROM … WHERE {column} IS NOT NULL",
        )


def ranked_run(
    prepared: Prepared, users: int, unknown: int, listed: int, fallback: int
) -> RankedRun:
    ranking = prepared.ranking
    return RankedRun(
        ranking.k,
        ranking.exclude_seen,
        users,
        unknown,
        listed,
        fallback,
        prepared.context.to_dict(),
    )


def recommend_users(
    recommender: Any, data: RankingData, users: np.ndarray, k: int, exclude_seen: bool
) -> TopK:
    """`recommender`'s lists for `users`, checked to be one TopK list per user."""
    from opsloop.ranking.data import TopK

    top = recommender.recommend(data, users, k, exclude_seen=exclude_seen)
    if not isinstance(top, TopK) or len(top.users) != len(users):
        raise StateError(
            f"{type(recommender).__name__}.recommend returned "
            + (f"lists for {len(top.users)} users" if isinstance(top, TopK) else "no TopK")
            + f" when asked for {len(users)}",
            expected="a TopK with one list per user asked (opsloop.ranking.models.Recommender)",
        )
    return top


def recommender_of(model: LoadedModel, version: str) -> Any:
    estimator = model.estimator
    if not callable(getattr(estimator, "recommend", None)):
        raise StateError(
            f"version {version} of {model.name!r} is not a recommender: its model is a "
            f"{type(estimator).__name__} without recommend()",
            expected="a version trained for task: ranking (a fitted Recommender)",
            fix="predict with a version trained by this ranking project (--version)",
        )
    return estimator


def check_names(ranking: RankingConfig) -> None:
    taken = sorted(OWN_COLUMNS & {ranking.user_column, ranking.item_column})
    if taken:
        raise ConfigError(
            f"ranking column name(s) {taken} collide with the nightly output's own columns",
            expected=f"user and item columns named other than {sorted(OWN_COLUMNS)}",
            fix="rename the column in the data and in the `ranking:` section",
        )


def check_user_column(columns: dict[str, str], column: str, label: str) -> None:
    if column not in columns:
        raise DataValidationError(
            f"the input {label!r} has no user column {column!r} (ranking.user_column): a "
            "ranking run makes a list for each of its users",
            expected=f"a column {column!r}",
            got="columns " + ", ".join(columns),
            fix="pass the users table (predict.input), or rename its id column, e.g. "
            f"sql:SELECT id AS {column} FROM …",
        )


def _kind_of_sql(sql_type: str) -> str | None:
    t = sql_type.upper()
    if t in ("VARCHAR", "TEXT", "STRING") or t.startswith("VARCHAR"):
        return _TEXT
    if any(t.startswith(n) for n in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")):
        return _NUMBER
    if t.startswith(("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "DECIMAL", "DOUBLE")):
        return _NUMBER
    return None


def check_id_kinds(sql_type: str, data: RankingData, label: str) -> None:
    """The input's user ids must be of the kind (text or numbers) of the users table's:
    otherwise no user would be found and all would get the fallback list."""
    import pandas as pd

    ids = data.users[data.user_column]
    have = (
        _NUMBER
        if pd.api.types.is_numeric_dtype(ids.dtype) and not pd.api.types.is_bool_dtype(ids.dtype)
        else _TEXT
        if pd.api.types.is_string_dtype(ids.dtype) or pd.api.types.is_object_dtype(ids.dtype)
        else None
    )
    want = _kind_of_sql(sql_type)
    if have is not None and want is not None and have != want:
        raise DataValidationError(
            f"the input {label!r} holds user ids as {want} ({sql_type}) but load()'s users "
            f"table holds them as {have} ({ids.dtype}): no user would be recognised",
            expected=f"{data.user_column!r} as {have}",
            fix=f"cast it, e.g. sql:SELECT CAST({data.user_column} AS "
            f"{'VARCHAR' if have == _TEXT else 'BIGINT'}) AS {data.user_column} FROM …",
        )


def universe(data: RankingData) -> Any:
    """The user ids the recommender knows: the users table's, then the history's."""
    import pandas as pd

    table = pd.Index(data.users[data.user_column].to_numpy())
    seen = pd.Index(data.interactions[data.user_column].unique())
    return table.append(seen.difference(table, sort=False))


def unknown_user(data: RankingData) -> np.ndarray:
    """One user id that is neither in the users table nor in the history, of the ids'
    kind: whom the recommender gives its fallback list."""
    return _unknown_of(universe(data))


def _unknown_of(ids: Any) -> np.ndarray:
    """One id not in the pandas Index `ids` (`universe`), of its kind."""
    import pandas as pd

    values = ids.to_numpy()
    if pd.api.types.is_integer_dtype(ids.dtype) or pd.api.types.is_float_dtype(ids.dtype):
        top = values.max() if len(values) else 0
        return np.asarray([top + 1], dtype=values.dtype)
    name = "__opsloop_fallback__"
    while name in ids:
        name += "_"
    return np.asarray([name], dtype=object)


def _appended(users: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """`users` with the unknown id after them, of a dtype that holds both exactly (objects
    when their numbers would meet only as floats, e.g. uint64 and int64)."""
    kinds = {users.dtype.kind, unknown.dtype.kind}
    both = np.result_type(users.dtype, unknown.dtype)
    if (kinds <= set("iu") and both.kind in "iu") or kinds == {"f"}:
        return np.concatenate([users, unknown])
    return np.concatenate([users.astype(object), unknown.astype(object)])
