"""Performance without labels: confidence-based performance estimation (CBPE, after
NannyML) for binary classifiers.

At training time (`CBPEReference.fit`, on the holdout the model never saw):

1. calibrate the scores with isotonic regression — only when that lowers the expected
   calibration error over 10 stratified 90/10 shuffle splits (NannyML's
   `needs_calibration`: equal-frequency bins, pooled test folds; ROC AUC > 0.999 or one
   class → no calibration);
2. cut the holdout into `chunks` chunks in time order and compute each chunk's realised
   metrics; the alert band of a metric is mean ± 3 sd over the chunks (NannyML's default
   `StandardDeviationThreshold`), clipped to [0, 1].

In a window (`estimate_window`), the calibrated probability p of each row gives the
expected confusion matrix — TP = Σ p over predicted positives, FP = Σ (1 − p) over them,
FN = Σ p and TN = Σ (1 − p) over predicted negatives — and from it accuracy, precision,
recall and F1; ROC AUC is estimated by ranking rows by the raw score and accumulating p as
expected positives (NannyML's `estimate_roc_auc`, with tied scores grouped as scikit-learn
does). The estimate is unbiased when the calibrated scores are right, P(y | x) unchanged
(covariate shift only); under concept drift it does not move (docs/monitoring.md).

Everything is stored as JSON (`cbpe.json` with the version): the isotonic thresholds as two
arrays, applied with linear interpolation and clipping exactly as scikit-learn's
`IsotonicRegression(out_of_bounds="clip").predict` does.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from opsloop.config import ESTIMATED_METRICS
from opsloop.errors import ProfileFormatError

if TYPE_CHECKING:
    from opsloop.config import EstimatedPerformanceConfig

FORMAT = 1
ARTIFACT = "cbpe.json"
SIGMAS = 3.0


@dataclass(frozen=True)
class IsotonicCalibrator:
    """A fitted isotonic map from raw score to probability; empty = identity."""

    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def calibrate(self, score: Any) -> np.ndarray:
        s = np.asarray(score, dtype=float)
        out: np.ndarray = (
            np.clip(s, 0.0, 1.0)
            if not self.x
            else np.interp(s, np.asarray(self.x), np.asarray(self.y))
        )
        return out


def fit_isotonic(score: np.ndarray, truth: np.ndarray) -> IsotonicCalibrator:
    from sklearn.isotonic import IsotonicRegression

    reg = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    reg.fit(np.asarray(score, dtype=float), np.asarray(truth, dtype=float))
    return IsotonicCalibrator(
        tuple(float(v) for v in reg.X_thresholds_), tuple(float(v) for v in reg.y_thresholds_)
    )


def equal_frequency_ece(truth: np.ndarray, prob: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-frequency bins of the sorted scores
    (NannyML's `_calculate_expected_calibration_error`)."""
    order = np.argsort(prob, kind="stable")
    p, t = np.asarray(prob, dtype=float)[order], np.asarray(truth, dtype=float)[order]
    n = len(p)
    if n <= 2 * bins:
        bins = max(n // 2, 1)
    edges = list(range(0, n + 1, n // bins))
    edges[-1] = n
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        total += (hi - lo) / n * abs(float(p[lo:hi].mean()) - float(t[lo:hi].mean()))
    return total


def needs_calibration(
    score: np.ndarray, truth: np.ndarray, *, splits: int = 10, seed: int = 42
) -> tuple[bool, float | None, float | None]:
    """Whether isotonic calibration lowers the ECE on held-out folds; (decision, ECE raw,
    ECE calibrated) over the pooled test folds."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedShuffleSplit

    if len(np.unique(truth)) < 2 or roc_auc_score(truth, score) > 0.999:
        return False, None, None
    sss = StratifiedShuffleSplit(n_splits=splits, test_size=0.1, random_state=seed)
    raw, cal, obs = [], [], []
    try:
        for train, test in sss.split(score.reshape(-1, 1), truth):
            calibrator = fit_isotonic(score[train], truth[train])
            raw.append(score[test])
            cal.append(calibrator.calibrate(score[test]))
            obs.append(truth[test])
    except ValueError:  # too few rows of a class for a stratified split
        return False, None, None
    t = np.concatenate(obs)
    before = equal_frequency_ece(t, np.concatenate(raw))
    after = equal_frequency_ece(t, np.concatenate(cal))
    return after < before, before, after


def expected_confusion(
    prob: np.ndarray, predicted_positive: np.ndarray
) -> tuple[float, float, float, float]:
    """(TP, FP, FN, TN) expected when each row is positive with probability `prob`."""
    p = np.asarray(prob, dtype=float)
    pos = np.asarray(predicted_positive, dtype=bool)
    tp = float(p[pos].sum())
    fp = float((1.0 - p[pos]).sum())
    fn = float(p[~pos].sum())
    tn = float((1.0 - p[~pos]).sum())
    return tp, fp, fn, tn


def confusion_metrics(tp: float, fp: float, fn: float, tn: float) -> dict[str, float]:
    """Accuracy, precision, recall, F1 from a (possibly expected) confusion matrix; an empty
    denominator gives 0 (scikit-learn's zero_division=0)."""
    n = tp + fp + fn + tn
    return {
        "accuracy": (tp + tn) / n if n else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
    }


def estimate_roc_auc(prob: np.ndarray, score: np.ndarray) -> float | None:
    """Expected ROC AUC: rows ranked by the raw score, each contributing `prob` expected
    positives and 1 − `prob` expected negatives; tied scores form one ROC point."""
    s = np.asarray(score, dtype=float)
    order = np.argsort(-s, kind="stable")
    s, p = s[order], np.asarray(prob, dtype=float)[order]
    tps = np.cumsum(p)
    fps = np.arange(1, len(p) + 1) - tps
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps, fps = np.r_[0.0, tps[last_of_tie]], np.r_[0.0, fps[last_of_tie]]
    if tps[-1] <= 0 or fps[-1] <= 0:
        return None
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def estimate_metrics(
    prob: np.ndarray, score: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Estimated accuracy, precision, recall, F1 and ROC AUC of a window's rows."""
    out = confusion_metrics(*expected_confusion(prob, np.asarray(score) >= threshold))
    auc = estimate_roc_auc(prob, score)
    if auc is not None:
        out["roc_auc"] = auc
    return out


def realized_metrics(
    truth: np.ndarray, score: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """The same metrics from labels (0/1): the reference chunks' realised performance."""
    t = np.asarray(truth, dtype=float)
    out = confusion_metrics(*expected_confusion(t, np.asarray(score) >= threshold))
    if 0 < t.sum() < len(t):
        from sklearn.metrics import roc_auc_score

        out["roc_auc"] = float(roc_auc_score(t, score))
    return out


@dataclass(frozen=True)
class Band:
    """Realised metric over the reference chunks: mean, sd (ddof 0, as NannyML)."""

    mean: float
    std: float

    def limits(self, chunk_rows: int, n: int) -> tuple[float, float]:
        """mean ± 3 sd, widened by √(chunk_rows / n) for windows smaller than a chunk (the
        sd of a rate grows as 1/√n); never narrower than at the chunk size."""
        width = SIGMAS * self.std * max(1.0, math.sqrt(chunk_rows / max(n, 1)))
        return max(0.0, self.mean - width), min(1.0, self.mean + width)


@dataclass(frozen=True)
class CBPEReference:
    """What CBPE learns from the labelled holdout, stored with the model version."""

    calibrator: IsotonicCalibrator
    calibrated: bool
    rows: int
    chunk_rows: int
    bands: dict[str, Band]
    ece_raw: float | None = None
    ece_calibrated: float | None = None
    threshold: float = 0.5
    chunk_realized: dict[str, list[float]] = field(default_factory=dict)
    chunk_estimated: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def fit(
        cls, score: Any, truth: Any, *, chunks: int = 10, threshold: float = 0.5
    ) -> CBPEReference:
        """`score`: raw P(positive) in time order; `truth`: 1 for the positive class."""
        s = np.asarray(score, dtype=float)
        t = np.asarray(truth, dtype=float)
        keep = ~np.isnan(s)
        s, t = s[keep], t[keep]
        use, ece_raw, ece_cal = needs_calibration(s, t)
        calibrator = fit_isotonic(s, t) if use else IsotonicCalibrator()
        prob = calibrator.calibrate(s)
        chunks = max(1, min(chunks, len(s) // 2))
        realized: dict[str, list[float]] = {m: [] for m in ESTIMATED_METRICS}
        estimated: dict[str, list[float]] = {m: [] for m in ESTIMATED_METRICS}
        for idx in np.array_split(np.arange(len(s)), chunks):
            for name, value in realized_metrics(t[idx], s[idx], threshold).items():
                realized[name].append(value)
            for name, value in estimate_metrics(prob[idx], s[idx], threshold).items():
                estimated[name].append(value)
        bands = {m: Band(float(np.mean(v)), float(np.std(v))) for m, v in realized.items() if v}
        return cls(
            calibrator=calibrator,
            calibrated=use,
            rows=len(s),
            chunk_rows=len(s) // chunks if chunks else 0,
            bands=bands,
            ece_raw=ece_raw,
            ece_calibrated=ece_cal,
            threshold=threshold,
            chunk_realized=realized,
            chunk_estimated=estimated,
        )

    def estimate(self, score: Any) -> dict[str, float]:
        s = np.asarray(score, dtype=float)
        s = s[~np.isnan(s)]
        return estimate_metrics(self.calibrator.calibrate(s), s, self.threshold)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "method": "cbpe",
                "calibration": "isotonic",
                "calibrated": self.calibrated,
                "isotonic": {"x": list(self.calibrator.x), "y": list(self.calibrator.y)},
                "ece_raw": self.ece_raw,
                "ece_calibrated": self.ece_calibrated,
                "threshold": self.threshold,
                "rows": self.rows,
                "chunk_rows": self.chunk_rows,
                "bands": {m: {"mean": b.mean, "std": b.std} for m, b in self.bands.items()},
                "chunk_realized": self.chunk_realized,
                "chunk_estimated": self.chunk_estimated,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> CBPEReference:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ProfileFormatError(
                    f"{ARTIFACT} is in format {data.get('format')!r}",
                    expected=f"format {FORMAT}",
                    got=repr(data.get("format")),
                    fix="retrain (`opsloop train`) to store a current CBPE reference",
                )
            iso = data["isotonic"]
            return cls(
                calibrator=IsotonicCalibrator(
                    tuple(map(float, iso["x"])), tuple(map(float, iso["y"]))
                ),
                calibrated=bool(data["calibrated"]),
                rows=int(data["rows"]),
                chunk_rows=int(data["chunk_rows"]),
                bands={
                    m: Band(float(b["mean"]), float(b["std"])) for m, b in data["bands"].items()
                },
                ece_raw=data.get("ece_raw"),
                ece_calibrated=data.get("ece_calibrated"),
                threshold=float(data.get("threshold", 0.5)),
                chunk_realized=data.get("chunk_realized", {}),
                chunk_estimated=data.get("chunk_estimated", {}),
            )
        except (ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, ProfileFormatError):
                raise
            raise ProfileFormatError(
                f"{ARTIFACT} could not be read: {type(exc).__name__}: {exc}",
                expected="the JSON written by CBPEReference.to_json",
                got=text[:80],
                fix="retrain (`opsloop train`) to store a new CBPE reference",
            ) from None


def estimate_window(
    reference: CBPEReference, score: Sequence[float] | np.ndarray, cfg: EstimatedPerformanceConfig
) -> dict[str, Any]:
    """The summary key `estimated_performance` for a window's raw scores."""
    s = np.asarray(score, dtype=float)
    s = s[~np.isnan(s)]
    n = len(s)
    out: dict[str, Any] = {
        "method": "cbpe",
        "metric": cfg.metric,
        "value": None,
        "lower": None,
        "upper": None,
        "degraded": False,
        "metrics": {},
        "n": n,
        "floor": cfg.floor,
        "calibrated": reference.calibrated,
        "reasons": [],
    }
    band = reference.bands.get(cfg.metric)
    if band is not None:
        out["lower"], out["upper"] = band.limits(reference.chunk_rows, n)
    if n < cfg.min_rows:
        out["reasons"].append(f"{n} scored rows (< {cfg.min_rows}): not estimated")
        return out
    metrics = reference.estimate(s)
    out["metrics"] = metrics
    value = out["value"] = metrics.get(cfg.metric)
    if value is None:
        out["reasons"].append(f"{cfg.metric} cannot be estimated (all scores alike)")
        return out
    if cfg.floor is not None and value < cfg.floor:
        out["reasons"].append(f"estimated {cfg.metric} {value:.4f} < floor {cfg.floor:g}")
    if cfg.band and band is not None and value < out["lower"]:
        out["reasons"].append(
            f"estimated {cfg.metric} {value:.4f} < band lower "
            f"{out['lower']:.4f} (reference mean {band.mean:.4f} "
            f"- {SIGMAS:g} sd)"
        )
    out["degraded"] = bool(out["reasons"])
    return out
