"""Drift thresholds learned from the variability between reference chunks.

At training time the reference is split into `chunks` contiguous chunks of about m rows; each
chunk's profile is compared with the profile of *the rest of the reference* (the other
chunks merged) and every distance of `opsloop.monitor.distances` is recorded. The
learned threshold of a distance is mean + sigma · std of those chunk distances (NannyML's
rule for its alert thresholds). PSI is learned on its square root: under no drift PSI is
close to a scaled chi-square, so skewed that mean + 3σ would be passed by ~3% of windows, while
√PSI, like the root distances, is close to a scaled chi distribution (measured: 0.5–1.5% of
no-drift windows per feature above the learned threshold, `tests/statistical/
test_multivariate_drift.py`).

**Chunk size vs window size.** A distance's null distribution depends on the sample sizes:
the shares compared differ by noise of variance p(1 − p)(1/n₁ + 1/n₂). Write n_eff = 1 /
(1/n₁ + 1/n₂): a chunk against the rest has n_eff = 1 / (1/m + 1/(N − m)) (comparing a chunk
with the whole reference, which contains it, would understate the noise), a window of n rows
against the reference has 1 / (1/n + 1/N). Under no drift the root distances (Jensen–Shannon,
Hellinger, L∞, Wasserstein, KS D, and √PSI) scale as 1/√n_eff, so the threshold learned on
chunks is rescaled to the window by √(n_eff,chunk / n_eff,window) (PSI's by the square of
that). The window's n is capped at N for this: beyond the reference's size the reference's
own noise dominates, and its finite resolution (values outside its range, cells it left
empty) adds a floor the chunks cannot show — uncapped, Jensen–Shannon alarmed on 14% of
no-drift 50,000-row windows against a 5,000-row reference; capped, on none of 160. A
threshold learned so measures "more than the reference's own sampling noise", like a test:
with a large reference it is small and flags small, possibly immaterial, shifts — the
materiality floors (`monitor.drift.materiality`, `opsloop.monitor.drift`) keep those
`immaterial` (docs/monitoring.md#materiality).

Stored with the version as the artifact `drift_thresholds.json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from opsloop.core.profile import Profile, merge_all, profile_frame
from opsloop.data.features import FeatureSpec
from opsloop.errors import InvalidInputError
from opsloop.monitor.distances import distances

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.runtime import Runtime

FORMAT = 1
ARTIFACT = "drift_thresholds.json"
SQUARED = frozenset({"psi"})  # learned on √value: they scale as 1/n_eff (the others 1/√n_eff)


def n_eff(n: float, reference_rows: float) -> float:
    return 1.0 / (1.0 / max(n, 1.0) + 1.0 / max(reference_rows, 1.0))


@dataclass
class Learned:
    """Mean and standard deviation of a distance over the chunks, on the root scale (√PSI)."""

    mean: float
    sd: float


@dataclass
class LearnedThresholds:
    chunks: int
    chunk_rows: float
    reference_rows: int
    sigma: float
    features: dict[str, dict[str, Learned]]

    @property
    def chunk_n_eff(self) -> float:
        return n_eff(self.chunk_rows, self.reference_rows - self.chunk_rows)

    def threshold(self, feature: str, method: str, n: int) -> float | None:
        """The threshold of `method` for `feature` in a window of n non-null rows, or None
        when none was learned."""
        learned = self.features.get(feature, {}).get(method)
        if learned is None:
            return None
        root = (learned.mean + self.sigma * learned.sd) * math.sqrt(
            self.chunk_n_eff / n_eff(min(n, self.reference_rows), self.reference_rows)
        )
        return root * root if method in SQUARED else root

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> LearnedThresholds:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise InvalidInputError(
                "the stored learned drift thresholds are not in a format this opsloop reads",
                expected=f"format {FORMAT}",
                got=f"format {data.get('format')}",
                fix="retrain the model (`opsloop train`) to learn them again",
            )
        return cls(
            chunks=int(data["chunks"]),
            chunk_rows=float(data["chunk_rows"]),
            reference_rows=int(data["reference_rows"]),
            sigma=float(data["sigma"]),
            features={
                f: {m: Learned(**v) for m, v in ms.items()} for f, ms in data["features"].items()
            },
        )


def learn_thresholds(
    df: pd.DataFrame,
    reference: Profile,
    features: Sequence[FeatureSpec],
    *,
    chunks: int = 20,
    sigma: float = 3.0,
) -> LearnedThresholds | None:
    """Learn every distance's threshold per feature (and for "score" when the reference
    profile has it) from `chunks` contiguous chunks of the reference frame `df`; None when
    the frame has fewer than 2 × `chunks` rows."""
    if len(df) < 2 * chunks:
        return None
    parts = [
        profile_frame(df.iloc[idx], reference) for idx in np.array_split(np.arange(len(df)), chunks)
    ]
    names = [f.name for f in features if f.name in reference.features]
    if "score" in reference.features and "score" not in names:
        names.append("score")
    values: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    for i, part in enumerate(parts):
        rest = merge_all(reference, parts[:i] + parts[i + 1 :])
        for name in names:
            if name not in part.features:
                continue
            ref_f, cur_f = rest.features[name], part.features[name]
            if ref_f.non_null == 0 or cur_f.non_null == 0:
                continue
            for method, value in distances(ref_f, cur_f).items():
                root = math.sqrt(max(value, 0.0)) if method in SQUARED else value
                values[name].setdefault(method, []).append(root)
    learned = {
        name: {
            m: Learned(float(np.mean(v)), float(np.std(v, ddof=1)))
            for m, v in per.items()
            if len(v) >= 2
        }
        for name, per in values.items()
    }
    return LearnedThresholds(
        chunks=chunks,
        chunk_rows=len(df) / chunks,
        reference_rows=len(df),
        sigma=sigma,
        features={k: v for k, v in learned.items() if v},
    )


def load_learned(rt: Runtime, version: str, notes: list[str]) -> LearnedThresholds | None:
    """The version's learned thresholds when `drift.thresholds` (or a feature's) is
    `learned`; None otherwise or when the version has none (trained by an older opsloop:
    said in `notes`, and the fixed thresholds apply)."""
    from opsloop.errors import NotFoundError

    cfg = rt.config.monitor.drift
    if cfg.thresholds != "learned" and not any(
        f.thresholds == "learned" for f in cfg.features.values()
    ):
        return None
    try:
        return LearnedThresholds.from_json(rt.registry.read_artifact(rt.model, version, ARTIFACT))
    except NotFoundError:
        notes.append(
            f"version {version} has no {ARTIFACT} (trained by an older opsloop): "
            "fixed drift thresholds used; retrain to learn them"
        )
        return None
