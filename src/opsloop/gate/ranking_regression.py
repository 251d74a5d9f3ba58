"""The ranking regression set: users whose recommendations must not collapse.

Two kinds of check, because one user's relevant visits are a small random sample: a
single user's NDCG@k moves by 0.5 when one visited restaurant moves from rank 1 to rank 3,
so a per-user NDCG rule fails even a better model for a large share of users (measured: a
challenger 10% better on 50,000 users lost more than 0.1 NDCG for 27% of 500 listed users).

- **Per user** (deterministic properties of the lists): a listed user *holds* when
  (a) the challenger's list is not shorter than the champion's (without a champion: not
  empty) — an empty or truncated list is the plainest collapse — and (b) with
  ``min_overlap``, the challenger keeps at least that share of the champion's items,
  |A ∩ K| / |K| (off by default: a better model may change lists a lot). A listed user who
  is not among the evaluated users does not hold (a set that silently shrinks tests
  nothing). The share of users that hold must be at least ``min_pass``.
- **As a group**: NDCG@k over the listed users with a relevant item must not be
  significantly worse than the champion's by more than ``tolerance`` — the paired bootstrap
  over those users, the one-sided p-value of "regressed beyond −tolerance" below
  (1 − confidence) / 2, like a slice.

The report's ``regression_set`` keeps the classifier's shape (rows, passed_rows, share,
failures with id/expected/got) and adds ``ndcg`` (the group comparison).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.errors import ConfigError, DataValidationError
from opsloop.gate.ranking_stats import compare_ranking
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
    tolerance: float = 0.0  # NDCG@k loss over the listed users beyond which it regressed
    min_overlap: float | None = None  # share of the champion's list the challenger keeps
    min_pass: float = 1.0  # share of the users that must hold
    path: str | None = None  # where the users were read from (for the report)


def load_regression_users(
    spec: RegressionSetConfig, root: Path, user_column: str, *, min_overlap: float | None = None
) -> RegressionUsers:
    """The users listed in ``gate.regression_set.path`` (its ``user_column``); its
    ``tolerance`` is the NDCG@k margin of the group test and ``min_pass`` the share of users
    whose lists must hold."""
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
    spec: RegressionUsers,
    a: PerUser,
    k: PerUser | None,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, Any], str, bool]:
    """(the report's ``regression_set``, its reason, passed)."""
    import pandas as pd

    listed = pd.unique(pd.Series(np.asarray(spec.users))).tolist()
    at = pd.Index(a.users).get_indexer(listed)
    found = at >= 0
    sa = a.subset(at[found])
    sk = None if k is None else k.subset(at[found])
    holds = sa.length >= (1 if sk is None else sk.length)
    share = np.full(len(sa), np.nan)
    if sk is not None and spec.min_overlap is not None:
        kept = overlap_counts(sa.items, sk.items)
        share = np.where(sk.length > 0, kept / np.maximum(sk.length, 1), np.nan)
        holds &= np.isnan(share) | (share >= spec.min_overlap - 1e-12)
    failures: list[dict[str, Any]] = [
        {"id": str(u), "expected": "among the evaluated users", "got": "absent"}
        for u, ok in zip(listed, found, strict=True)
        if not ok
    ][:_SHOWN]
    for i in np.flatnonzero(~holds)[: _SHOWN - len(failures)]:
        failures.append(_failure(spec, sa, sk, int(i), share[i]))
    total, passed_rows = len(listed), int(holds.sum())
    fraction = passed_rows / total if total else 1.0
    ok = fraction >= spec.min_pass
    reason = (
        f"regression set: {passed_rows}/{total} users' lists held "
        f"({'>=' if ok else '<'} {spec.min_pass:.0%} required)"
    )
    ndcg = None
    if sk is not None:
        ndcg, text, group_ok = _group_ndcg(spec, sa, sk, confidence, resamples, seed)
        reason += f"; {text}"
        ok &= group_ok
    result = {
        "path": spec.path,
        "rows": total,
        "passed_rows": passed_rows,
        "share": fraction,
        "min_pass": spec.min_pass,
        "tolerance": spec.tolerance,
        "min_overlap": spec.min_overlap,
        "absent": int((~found).sum()),
        "ndcg": ndcg,
        "passed": ok,
        "failures": failures,
    }
    return result, reason, ok


def _group_ndcg(
    spec: RegressionUsers,
    a: PerUser,
    k: PerUser,
    confidence: float,
    resamples: int,
    seed: int,
) -> tuple[dict[str, Any] | None, str, bool]:
    """NDCG@k over the listed users: (its row, its reason, not regressed)."""
    try:
        comp = compare_ranking(
            "ndcg_at_k",
            a,
            k,
            cold_start=None,
            confidence=confidence,
            resamples=resamples,
            seed=seed,
        )
    except ValueError:
        return None, "no listed user has a relevant item: NDCG@k not compared", True
    alpha = (1 - confidence) / 2
    p = comp.p_below(-spec.tolerance)
    ok = p >= alpha
    row = {**comp.to_dict(), "p_regression": p, "regressed": not ok}
    text = (
        f"NDCG@{a.k} on them {comp.challenger:.4f} vs {comp.champion:.4f} "
        f"({comp.improvement:+.4f}, {comp.n} users) "
        f"{'regressed' if not ok else 'not regressed'} beyond -{spec.tolerance:g} "
        f"(p={p:.3g} {'<' if not ok else '>='} {alpha:g})"
    )
    return row, text, ok


def _failure(
    spec: RegressionUsers, a: PerUser, k: PerUser | None, i: int, share: float
) -> dict[str, Any]:
    want = [f">= {1 if k is None else int(k.length[i])} items"]
    got = [f"{int(a.length[i])} items"]
    if not np.isnan(share) and spec.min_overlap is not None:
        want.append(f"overlap >= {spec.min_overlap:.0%}")
        got.append(f"overlap {share:.0%}")
    return {"id": str(a.users[i]), "expected": "; ".join(want), "got": "; ".join(got)}
