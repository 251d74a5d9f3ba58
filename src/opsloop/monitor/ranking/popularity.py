"""Item-popularity shift: how far the window's item shares (of visitors — distinct users
per item, a user's repeat visits counted once — or of the slots of the lists served) are
from the reference's.

**The distance: Jensen–Shannon (base 2)** between the two share vectors over the union of
their items (`opsloop.monitor.stats.jensenshannon`, the distance opsloop's categorical
drift already uses). It is bounded in [0, 1] and symmetric, and it stays finite when an
item has no share on one side — the normal case for a catalogue's long tail and for new
restaurants, where PSI and Kullback–Leibler need an arbitrary ε and are dominated by it.

**Sampling noise.** A window of n visits over C items is far from its population's shares
(with n ≈ C most items get 0 or 1 visit), so the raw distance is large even when nothing
changed, and grows as windows shrink. The shift is therefore judged against the distance's
distribution under *no change*: the permutation null — `draws` random splits of the pooled
visits into a reference and a window of their sizes (a multivariate hypergeometric draw of
the window from the pooled counts), seeded, so the same inputs give the same verdict.
Drawing both samples from the pooled *shares* instead (a parametric bootstrap) understates
the noise in a sparse catalogue: the plug-in shares put no mass on the many items nobody
visited, and on this data it flagged random halves of one month's visits as shifted. The
shift is

- *detectable* when p = (1 + #{draws ≥ observed}) / (1 + draws) is below `p_value`
  (`monitor.drift.p_value`), and
- *material* when the **noise-corrected distance** reaches `floor`
  (`monitor.ranking.popularity_floor`): the Jensen–Shannon *divergence* (the distance
  squared) of independent samples is close to the population's divergence plus the
  sampling's, so `corrected` = √max(distance² − noise², 0), with `noise`² the draws' mean
  divergence, estimates the distance between the two populations — comparable across
  window sizes, where the raw distance is not.

Visits are exchangeable only within a user: a heavy user's repeat choices are correlated,
so with raw visit counts the permutation null is narrow when a few users make many of the
visits — on the restaurants example, halves of one month split by *user* read as shifted
(p ≈ 0.01). Counting distinct visitors per item (`visitor_counts`) removes most of it (the
same halves: p 0.18–0.86).

A breach needs both, as a feature's drift does (`opsloop.monitor.drift`). Fewer than
`min_rows` events in the window: not judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from opsloop.monitor.stats import jensenshannon

SEED = 20261207
TOP_MOVERS = 5  # items listed in a result: the largest gains in share


@dataclass(frozen=True)
class ItemShare:
    """One item's share of the reference and of the window."""

    item: str
    reference: float
    window: float


@dataclass(frozen=True)
class PopularityShift:
    """The popularity shift of one kind of event (`of`: ``visits`` or ``recommendations``)."""

    of: str
    n: int  # events in the window
    n_reference: int
    distance: float | None  # Jensen–Shannon, base 2
    noise: float | None  # √(mean divergence) under no change, at these sizes
    p_value: float | None
    corrected: float | None  # √max(distance² − noise², 0): the populations' distance
    floor: float
    breach: bool
    judged: bool
    risers: list[ItemShare] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _js_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon distance (base 2) between matching rows of two count matrices."""
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-300)
    q = q / np.maximum(q.sum(axis=1, keepdims=True), 1e-300)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum(axis=1)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum(axis=1)
    out: np.ndarray = np.sqrt(np.maximum((kl_p + kl_q) / 2, 0.0))
    return out


def _aligned(
    reference: Mapping[str, int], window: Mapping[str, int]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    names = sorted(set(reference) | set(window))
    ref = np.asarray([reference.get(n, 0) for n in names], dtype=float)
    cur = np.asarray([window.get(n, 0) for n in names], dtype=float)
    return names, ref, cur


def popularity_shift(
    reference: Mapping[str, int],
    window: Mapping[str, int],
    *,
    of: str,
    floor: float,
    p_value: float,
    draws: int,
    min_rows: int,
) -> PopularityShift:
    """The shift of `window`'s item counts from `reference`'s (module docstring)."""
    names, ref, cur = _aligned(reference, window)
    n, n_ref = int(cur.sum()), int(ref.sum())
    empty = PopularityShift(of, n, n_ref, None, None, None, None, floor, False, False)
    if n < min_rows or n_ref == 0:
        return empty
    distance = jensenshannon(ref, cur)
    pooled = (ref + cur).astype(np.int64)
    rng = np.random.default_rng(SEED)
    null = np.empty(draws)
    step = max(1, 2_000_000 // max(len(names), 1))  # draws at once: bounded memory
    for lo in range(0, draws, step):
        size = min(step, draws - lo)
        b = rng.multivariate_hypergeometric(pooled, n, size=size, method="marginals")
        null[lo : lo + size] = _js_rows((pooled - b).astype(float), b.astype(float))
    noise = float(np.sqrt(np.mean(null**2)))
    p = float((1 + np.sum(null >= distance)) / (1 + draws))
    corrected = float(np.sqrt(max(distance**2 - noise**2, 0.0)))
    gain = cur / n - ref / n_ref
    order = np.argsort(-gain, kind="stable")[:TOP_MOVERS]
    risers = [
        ItemShare(names[i], float(ref[i] / n_ref), float(cur[i] / n)) for i in order if gain[i] > 0
    ]
    return PopularityShift(
        of=of,
        n=n,
        n_reference=n_ref,
        distance=distance,
        noise=noise,
        p_value=p,
        corrected=corrected,
        floor=floor,
        breach=bool(p < p_value and corrected >= floor),
        judged=True,
        risers=risers,
    )
