"""Training-data preconditions beyond the pandera contract: enough rows, not too many
missing values per feature, every class represented. Checked before fitting; a failure
stops the pipeline with a report of every failed check, recorded as a `data_invalid`
event with the same evidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opsloop.errors import DataValidationError

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.config import QualityConfig


@dataclass(frozen=True)
class QualityCheck:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "passed": self.passed, "detail": self.detail}


def check_quality(
    frame: pd.DataFrame, cfg: QualityConfig, *, features: list[str], target: str, task: str
) -> list[QualityCheck]:
    checks = [
        QualityCheck(
            "min_rows",
            len(frame) >= cfg.min_rows,
            f"{len(frame)} rows (need at least {cfg.min_rows})",
        )
    ]
    if len(frame):
        missing = frame[features].isna().mean()
        worst = missing[missing > cfg.max_missing].sort_values(ascending=False)
        checks.append(
            QualityCheck(
                "max_missing",
                worst.empty,
                f"every feature is at most {cfg.max_missing:.0%} missing"
                if worst.empty
                else "too many missing values: "
                + ", ".join(f"{name} {share:.0%}" for name, share in worst.items())
                + f" (limit {cfg.max_missing:.0%})",
            )
        )
        target_missing = int(frame[target].isna().sum())
        checks.append(
            QualityCheck(
                "target_present",
                target_missing == 0,
                "every row has a target"
                if target_missing == 0
                else f"{target_missing} row(s) have no {target!r}",
            )
        )
    if task != "regression" and len(frame):
        counts = frame[target].value_counts()
        small = counts[counts < cfg.min_class_rows]
        enough = len(counts) >= 2 and small.empty
        checks.append(
            QualityCheck(
                "min_class_rows",
                enough,
                f"classes {counts.to_dict()}"
                + (
                    ""
                    if enough
                    else f" (need >= 2 classes with at least {cfg.min_class_rows} rows each)"
                ),
            )
        )
    return checks


def require_quality(checks: list[QualityCheck]) -> None:
    failed = [c for c in checks if not c.passed]
    if failed:
        raise DataValidationError(
            "training data failed its quality checks: "
            + "; ".join(f"{c.name}: {c.detail}" for c in failed),
            expected="data meeting data.quality in opsloop.yaml",
            fix="fix the data returned by load() (or a wider --window), or relax data.quality",
        )
