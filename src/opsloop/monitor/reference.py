"""Drift references: what each feature of a window is judged against.

`monitor.reference` (per feature `monitor.drift.features.<name>.reference`) chooses it:

- `training` — the version's reference profile, fitted on its training frame at register
  time (the default);
- `rolling:<d>` — the logged predictions of the period ``[start − d, start)`` just before
  the monitored window;
- `cycle:<c>` — the same period one cycle earlier, ``[start − c, end − c)`` (`cycle:7d`
  for a weekly pattern, `cycle:365d` for a yearly one), so a seasonal feature is compared
  with the same season rather than with the training quarter.

Rolling and cycle references are profiled from the prediction log by the engine on the
*training* reference's layout (its bins, sketch layout and categories), chosen by
`monitor.clock` (event time by default), so every statistic stays a function of counts on
one layout and the histograms stay comparable. The features' reference holds the answers
every version gave users in that period (no shadow answers: inputs do not depend on the
model); the score's (prediction drift) holds only the monitored version's answers. A
feature with fewer than `drift.min_rows` non-null rows in its period falls back to the
training reference, and its result says so (`ReferenceUsed.fallback` and `reason`).

A log reference keeps no sample of raw values, so its features are judged by the binned
KS rather than the exact one; learned thresholds (`drift.thresholds: learned`) stay those
learned from the training reference's chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opsloop.config import DriftReference, MonitorConfig
from opsloop.core.profile import FeatureProfile, Profile
from opsloop.data.window import Window

if TYPE_CHECKING:
    from opsloop.core.transform import Transform
    from opsloop.engines.base import ReconstructionErrors, WindowProfiler
    from opsloop.monitor.multivariate import MultivariateResult

SCORE = "score"  # the model's score in a reference profile (prediction drift)


@dataclass(frozen=True)
class ReferenceUsed:
    """The reference one feature was judged against: `kind` (`training`, `rolling` or
    `cycle`), as configured (`requested`), its span [`start`, `end`) (for `training`, the
    version's training window when known), the feature's non-null `rows` in it, and —
    when a rolling or cycle reference had too few rows — `fallback` with its `reason`."""

    kind: str
    requested: str
    start: datetime | None
    end: datetime | None
    rows: int
    fallback: bool = False
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "requested": self.requested,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "rows": self.rows,
            "fallback": self.fallback,
            "reason": self.reason,
        }


@dataclass
class DriftReferences:
    """`profile`: each feature's chosen reference on the training layout (what drift is
    judged against); `used`: which one, per feature (and `score`); `notes` for the
    report (fallbacks)."""

    profile: Profile
    used: dict[str, ReferenceUsed]
    notes: list[str] = field(default_factory=list)


def reference_period(ref: DriftReference, window: Window) -> Window:
    """The log period a rolling or cycle reference reads for `window`."""
    if ref.length is None:
        raise ValueError(f"the {ref.kind} reference has no period")
    if ref.kind == "rolling":
        return Window(window.start - ref.length, window.start)
    return Window(window.start - ref.length, window.end - ref.length)


def choose_references(
    profiler: WindowProfiler,
    *,
    model: str,
    version: str,
    window: Window,
    training: Profile,
    features: Sequence[str],
    cfg: MonitorConfig,
    training_window: Window | None = None,
) -> DriftReferences:
    """Each feature's drift reference for `window` (module docstring): one engine pass per
    distinct rolling/cycle period (two when the score uses it: the version's own answers),
    none when every feature uses `training`."""
    names = [n for n in features if n in training.features and n != SCORE]
    if SCORE in training.features:
        names.append(SCORE)
    chosen = dict(training.features)
    used = {n: _training(training, n, cfg.reference_text(n), training_window) for n in names}
    groups: dict[DriftReference, list[str]] = {}
    for name in names:
        ref = cfg.drift_reference(name)
        if ref.kind != "training":
            groups.setdefault(ref, []).append(name)
    fallbacks: list[str] = []
    for ref, group in groups.items():
        period = reference_period(ref, window)
        profiled = _profile_period(profiler, model, version, period, training, group, cfg)
        for name in group:
            got = profiled.features.get(name)
            rows = 0 if got is None else got.non_null
            if got is not None and rows >= cfg.drift.min_rows:
                chosen[name] = got
                used[name] = ReferenceUsed(
                    ref.kind, cfg.reference_text(name), period.start, period.end, rows
                )
                continue
            reason = (
                f"{rows} rows of {name} logged in {_span(period)} "
                f"(< drift.min_rows {cfg.drift.min_rows}): judged against the training reference"
            )
            base = used[name]
            used[name] = replace(base, fallback=True, reason=reason)
            fallbacks.append(f"{name} ({base.requested}: {rows} rows)")
    notes = []
    if fallbacks:
        notes.append(
            "drift reference fell back to training (too few logged rows in the period): "
            + ", ".join(fallbacks)
        )
    return DriftReferences(Profile(training.n_rows, chosen, training.newest), used, notes)


def judge_multivariate(
    errors: ReconstructionErrors,
    *,
    model: str,
    window: Window,
    transform: Transform,
    n: int,
    value: float | None,
    cfg: MonitorConfig,
    training_window: Window | None = None,
) -> tuple[MultivariateResult, ReferenceUsed]:
    """The window's multivariate verdict against `monitor.reference`: `training`, the band
    learned at training; a rolling or cycle period, the same band's width around the
    period's mean reconstruction error (every version's answers to users,
    `Band.bounds_around`), or the training band when the period has fewer than
    `drift.min_rows` rows (said in the result)."""
    from opsloop.monitor.multivariate import MultivariateResult, judge

    requested, ref = cfg.reference, DriftReference.parse(cfg.reference)
    verdict = judge(transform, n, value, min_rows=cfg.drift.min_rows)
    used = ReferenceUsed(
        "training",
        requested,
        None if training_window is None else training_window.start,
        None if training_window is None else training_window.end,
        transform.reference_rows,
    )
    band = transform.band
    if ref.kind == "training" or band is None or verdict.lower is None or value is None:
        return verdict, used  # the training band, or no verdict to make
    period = reference_period(ref, window)
    rows, center = errors.reconstruction_error(
        model, period.start, period.end, transform, clock=cfg.clock, served=True
    )
    if center is None or rows < cfg.drift.min_rows:
        reason = (
            f"{rows} rows logged in {_span(period)} (< drift.min_rows "
            f"{cfg.drift.min_rows}): judged against the training band"
        )
        return verdict, replace(used, fallback=True, reason=reason)
    lower, upper = band.bounds_around(n, center, rows)
    result = MultivariateResult(
        value, lower, upper, not lower <= value <= upper, n, transform.n_components
    )
    return result, ReferenceUsed(ref.kind, requested, period.start, period.end, rows)


def _training(training: Profile, name: str, requested: str, span: Window | None) -> ReferenceUsed:
    return ReferenceUsed(
        "training",
        requested,
        None if span is None else span.start,
        None if span is None else span.end,
        training.features[name].non_null,
    )


def _profile_period(
    profiler: WindowProfiler,
    model: str,
    version: str,
    period: Window,
    training: Profile,
    names: Sequence[str],
    cfg: MonitorConfig,
) -> Profile:
    """The period's profile of `names` on the training layout: features from every
    version's answers to users, the score from `version`'s."""
    inputs = [n for n in names if n != SCORE]
    found: dict[str, FeatureProfile] = {}
    if inputs:
        layout = Profile(training.n_rows, {n: training.features[n] for n in inputs})
        got = profiler.profile_window(
            model, period.start, period.end, layout, clock=cfg.clock, served=True
        )
        found.update(got.features)
    if SCORE in names:
        layout = Profile(training.n_rows, {SCORE: training.features[SCORE]})
        got = profiler.profile_window(
            model, period.start, period.end, layout, version=version, clock=cfg.clock
        )
        found.update(got.features)
    return Profile(0, found)


def _span(period: Window) -> str:
    return f"{period.start:%Y-%m-%d %H:%M} → {period.end:%Y-%m-%d %H:%M} UTC"
