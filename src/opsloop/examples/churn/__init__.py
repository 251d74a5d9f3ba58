"""The churn example: a realistic tabular binary-classification problem with a drift scenario."""

from opsloop.examples.churn.generate import (
    FEATURES_CATEGORICAL,
    FEATURES_NUMERIC,
    ID,
    TARGET,
    TIME,
    generate,
)

__all__ = ["FEATURES_CATEGORICAL", "FEATURES_NUMERIC", "ID", "TARGET", "TIME", "generate"]
