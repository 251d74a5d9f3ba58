"""Feature specs: what the model takes, inferred from training data and stored with it.

The serving layer validates requests against them and the monitor chooses statistics
by `kind` (numeric → PSI + KS, categorical/boolean → chi-square + PSI).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from opsloop.data.predlog import RESERVED_NAMES
from opsloop.errors import DataValidationError

if TYPE_CHECKING:
    import pandas as pd

FeatureKind = Literal["numeric", "categorical", "boolean"]

# Columns the prediction log writes itself (and the labels'); a feature may not use these
# names. `model`, `date` and `hour` are free: the log's directories are not read as columns.
RESERVED_COLUMNS = RESERVED_NAMES


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    kind: FeatureKind
    dtype: str  # "float64", "int64", "string", "bool"
    nullable: bool = True
    categories: tuple[str, ...] = ()  # categories seen in training (categorical only)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(
            name=data["name"],
            kind=data["kind"],
            dtype=data["dtype"],
            nullable=bool(data.get("nullable", True)),
            categories=tuple(data.get("categories", ())),
        )


def infer_features(
    df: pd.DataFrame,
    *,
    exclude: Iterable[str] = (),
    only: Sequence[str] | None = None,
    max_categories: int = 200,
) -> list[FeatureSpec]:
    """Infer feature specs from a training frame."""
    import pandas as pd

    excluded = set(exclude)
    names = list(only) if only is not None else [c for c in df.columns if c not in excluded]
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise DataValidationError(
            "configured features are missing from the data",
            expected=f"columns {missing}",
            got=f"columns {list(df.columns)}",
            fix="fix `features:` in opsloop.yaml or the data returned by load()",
        )
    clash = sorted(RESERVED_COLUMNS & set(names))
    if clash:
        raise DataValidationError(
            "feature names clash with prediction-log columns",
            expected=f"no feature named {', '.join(sorted(RESERVED_COLUMNS))} (reserved)",
            got=f"features {clash}",
            fix=f"rename {', '.join(clash)} in load() (e.g. df.rename(columns=...)), "
            "or leave them out with `features:` in opsloop.yaml",
        )
    specs = []
    for name in names:
        col = df[name]
        nullable = bool(col.isna().any())
        if pd.api.types.is_bool_dtype(col):
            specs.append(FeatureSpec(name, "boolean", "bool", nullable))
        elif pd.api.types.is_numeric_dtype(col):
            dtype = "int64" if pd.api.types.is_integer_dtype(col) else "float64"
            specs.append(FeatureSpec(name, "numeric", dtype, nullable))
        else:
            cats = col.dropna().astype(str).value_counts().index[:max_categories]
            specs.append(FeatureSpec(name, "categorical", "string", nullable, tuple(sorted(cats))))
    return specs


def features_to_json(specs: Sequence[FeatureSpec]) -> str:
    return json.dumps([s.to_dict() for s in specs], indent=2)


def features_from_json(text: str) -> list[FeatureSpec]:
    return [FeatureSpec.from_dict(d) for d in json.loads(text)]
