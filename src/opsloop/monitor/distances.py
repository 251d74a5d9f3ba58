"""Every distance between a feature's reference and window profiles, by name: PSI,
Jensen–Shannon (base 2), Hellinger and L∞ on the counts; for numeric features also the
normalised Wasserstein-1 and the binned KS distance on the sketch. The drift verdict
(`opsloop.monitor.drift`) picks one; learned thresholds (`opsloop.monitor.thresholds`) learn
each from the reference's chunks."""

from __future__ import annotations

from opsloop.core.profile import FeatureProfile
from opsloop.monitor import stats


def distances(ref: FeatureProfile, cur: FeatureProfile) -> dict[str, float]:
    out = {
        "psi": stats.psi(ref.counts, cur.counts),
        "jensenshannon": stats.jensenshannon(ref.counts, cur.counts),
        "hellinger": stats.hellinger(ref.counts, cur.counts),
        "linf": stats.linf(ref.counts, cur.counts),
    }
    if ref.kind == "numeric" and ref.layout is not None:
        at = stats.cdfs(ref.sketch, cur.sketch)  # once for both
        out["wasserstein"] = stats.wasserstein(ref.layout, ref.sketch, cur.sketch, ref.std, at=at)
        out["ks"] = stats.ks_distance(ref.sketch, cur.sketch, at=at)
    return out
