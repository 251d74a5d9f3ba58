"""The ranking regression set: users whose recommendations must not collapse.

A listed user *holds* when

(a) the challenger's list is not shorter than the champion's (without a champion: not
    empty) — an empty or truncated list is the plainest collapse;
(b) if the user has relevant items, the challenger's NDCG@k is at least the champion's minus
    ``tolerance`` — the user's own relevant items did not fall out of the list;
(c) with ``min_overlap``, the challenger keeps at least that share of the champion's items,
    overlap = |A ∩ K| / |K| (off by default: a better model may change lists a lot).

The set passes when the share of listed users that hold is at least ``min_pass``. A listed
user who is not among the evaluated users does not hold (a regression set that silently
shrinks tests nothing). These are per-user checks without statistics, like the golden rows
of a classifier's regression set; the report's ``regression_set`` has the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.errors import ConfigError, DataValidationError
from opsloop.ranking.data import PAD
from opsloop.ranking.metrics import PerUser

if TYPE_CHECKING:
    from pathlib import Path

    from opsloop.config import RegressionSetConfig

_SHOWN = 20  # failures listed in the report


@dataclass(frozen=True)
class RegressionUsers:
    """The users of the ranking regression set and what they must keep."""

    users: np.ndarray
    tolerance: float = 0.0  # allowed NDCG@k loss per user against the champion
    min_overlap: float | None = None  # share of the champion's list the challenger keeps
    min_pass: float = 1.0  # share of the users that must hold
    path: str | None = None  # where the users were read from (for the report)


def load_regression_users(
    spec: RegressionSetConfig, root: Path, user_column: str, *, min_overlap: float | None = None
) -> RegressionUsers:
    """The users listed in ``gate.regression_set.path`` (its ``user_column``); its
    ``tolerance`` is the allowed NDCG@k loss and ``min_pass`` the share that must hold."""
    import pandas as pd

    path = (root / spec.path).resolve()
    if not path.is_file():
        raise ConfigError(
            f"gate.regression_set: {path} does not exist",
            fix="create the file (one row per user) or correct gate.regression_set.path",
        )
    listed = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if user_column not in listed.columns:
        raise DataValidationError(
            f"the regression set {path.name} lacks the user column {user_column!r}",
            expected=f"a column {user_column!r} listing the users to protect",
            got=f"columns {list(listed.columns)}",
            fix="add the column",
        )
    return RegressionUsers(
        users=listed[user_column].to_numpy(),
        tolerance=spec.tolerance,
        min_overlap=min_overlap,
        min_pass=spec.min_pass,
        path=spec.path,
    )


def overlap_counts(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """|A ∩ K| per row of two (n, k) lists without repeats (PAD ignored)."""
    both = np.sort(np.hstack([a, k]), axis=1)
    same = (both[:, 1:] == both[:, :-1]) & (both[:, 1:] != PAD)
    counts: np.ndarray = same.sum(axis=1)
    return counts


def evaluate_ranking_regression(
    spec: RegressionUsers, a: PerUser, k: PerUser | None
) -> tuple[dict[str, Any], str, bool]:
    """(the report's ``regression_set``, its reason, passed)."""
    import pandas as pd

    listed = pd.unique(pd.Series(np.asarray(spec.users))).tolist()
    at = pd.Index(a.users).get_indexer(listed)
    found = at >= 0
    sa = a.subset(at[found])
    sk = None if k is None else k.subset(at[found])
    long_enough = sa.length >= (1 if sk is None else sk.length)
    holds = long_enough.copy()
    floor = np.full(len(sa), np.nan)
    share = np.full(len(sa), np.nan)
    if sk is not None:
        judged = (sa.n_relevant > 0) & ~np.isnan(sk.ndcg)
        floor = np.where(judged, sk.ndcg - spec.tolerance, np.nan)
        holds &= ~judged | (sa.ndcg >= floor - 1e-12)
        if spec.min_overlap is not None:
            kept = overlap_counts(sa.items, sk.items)
            share = np.where(sk.length > 0, kept / np.maximum(sk.length, 1), np.nan)
            holds &= np.isnan(share) | (share >= spec.min_overlap - 1e-12)
    failures: list[dict[str, Any]] = [
        {"id": str(u), "expected": "among the evaluated users", "got": "absent"}
        for u, ok in zip(listed, found, strict=True)
        if not ok
    ][:_SHOWN]
    for i in np.flatnonzero(~holds)[: _SHOWN - len(failures)]:
        failures.append(_failure(spec, sa, sk, int(i), floor[i], share[i]))
    total, passed_rows = len(listed), int(holds.sum())
    fraction = passed_rows / total if total else 1.0
    ok = fraction >= spec.min_pass
    result = {
        "path": spec.path,
        "rows": total,
        "passed_rows": passed_rows,
        "share": fraction,
        "min_pass": spec.min_pass,
        "tolerance": spec.tolerance,
        "min_overlap": spec.min_overlap,
        "absent": int((~found).sum()),
        "passed": ok,
        "failures": failures,
    }
    reason = (
        f"regression set: {passed_rows}/{total} users' recommendations held "
        f"({'>=' if ok else '<'} {spec.min_pass:.0%} required)"
    )
    return result, reason, ok


def _failure(
    spec: RegressionUsers, a: PerUser, k: PerUser | None, i: int, floor: float, share: float
) -> dict[str, Any]:
    want = [f">= {1 if k is None else int(k.length[i])} items"]
    got = [f"{int(a.length[i])} items"]
    if not np.isnan(floor):
        want.append(f"NDCG@{a.k} >= {floor:.4f}")
        got.append(f"NDCG@{a.k} {a.ndcg[i]:.4f}")
    if not np.isnan(share) and spec.min_overlap is not None:
        want.append(f"overlap >= {spec.min_overlap:.0%}")
        got.append(f"overlap {share:.0%}")
    return {"id": str(a.users[i]), "expected": "; ".join(want), "got": "; ".join(got)}
