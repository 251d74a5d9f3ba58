"""Item popularity, global and within a segment of users (e.g. an area), from a `History`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from opsloop.errors import ConfigError
from opsloop.ranking._history import History

MAX_SEGMENT_CELLS = 50_000_000  # segments x items held as one dense count matrix


def segment_codes(history: History, users: pd.DataFrame, column: str) -> tuple[np.ndarray, int]:
    """Each user's segment code (-1: unknown, or a user not in the users table) and the
    number of segments; ``users`` is the table ``history`` was encoded with."""
    codes, uniques = pd.factorize(users[column].to_numpy())
    out = np.full(history.n_users, -1, dtype=np.int64)
    out[: history.n_table_users] = codes
    n_segments = len(uniques)
    if n_segments * max(history.n_items, 1) > MAX_SEGMENT_CELLS:
        raise ConfigError(
            f"The segment column {column!r} has too many values for per-segment popularity",
            expected=f"at most {MAX_SEGMENT_CELLS // max(history.n_items, 1):,} segments "
            f"for {history.n_items:,} items",
            got=f"{n_segments:,}",
            fix="choose a coarser column (an area, an age band) or none",
        )
    return out, n_segments


def popularity(
    history: History, recent_days: float, codes: np.ndarray | None, n_segments: int
) -> np.ndarray:
    """``(n_segments + 1, n_items)`` scores: row ``s`` ranks items by their interactions in
    the last ``recent_days`` by users of segment ``s``, the last row over all users; ties
    (e.g. no recent interaction) by all-time interactions (a fraction below one added)."""
    n_items = history.n_items
    recent = history.recent(recent_days)
    overall = np.bincount(history.item, minlength=n_items).astype(np.float64)
    tiebreak = overall / (overall.max(initial=0.0) + 1.0)
    rows = np.zeros((n_segments + 1, n_items))
    rows[n_segments] = np.bincount(history.item[recent], minlength=n_items)
    if codes is not None and n_segments:
        seg = codes[history.user[recent]]
        mine = seg >= 0
        cells = seg[mine] * n_items + history.item[recent][mine]
        rows[:n_segments] = np.bincount(cells, minlength=n_segments * n_items).reshape(
            n_segments, n_items
        )
    return np.asarray(rows + tiebreak, dtype=np.float64)


def top_items(scores: np.ndarray, n: int) -> np.ndarray:
    """``(rows, min(n, n_items))``: each row's best item positions, best first (ties: smaller
    position first)."""
    n = min(n, scores.shape[1])
    if n == 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n] if n < scores.shape[1] else None
    if part is None:
        part = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    picked = np.take_along_axis(scores, part, axis=1)
    best = np.lexsort((part, -picked), axis=1)
    return np.asarray(np.take_along_axis(part, best, axis=1), dtype=np.int64)
