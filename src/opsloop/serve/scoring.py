"""Scoring a request's rows: what the model gives back is checked before it is answered.

Values that fit the feature specs can still be beyond what a model can score: a float64 near
its limit overflows a linear model to inf, and inf − inf is NaN. Such a row has no score to
answer (and JSON has no NaN), so the request gets a 422 naming the rows, not a 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from opsloop.serve.errors import RequestError
from opsloop.serve.inputs import MAX_DETAILS, _detail

if TYPE_CHECKING:
    from opsloop.registry.base import LoadedModel


def _not_finite(name: str, values: np.ndarray | None) -> list[tuple[str, int, object]]:
    if values is None or values.dtype.kind not in "fc":
        return []
    return [(name, int(i), values[i]) for i in np.flatnonzero(~np.isfinite(values))]


def refused(model: LoadedModel, exc: ValueError) -> RequestError:
    """scikit-learn raises ValueError for input it cannot take (e.g. a category an encoder
    without `handle_unknown="ignore"` never saw): the caller's input, so a 422."""
    text = str(exc)
    text = text if len(text) <= 300 else text[:297] + "..."  # messages can quote the input
    return RequestError(
        422,
        f"version {model.version} of the model cannot score this input: {text}",
        [
            _detail(
                "input",
                "values the model was trained to take",
                text.splitlines()[0] if text else type(exc).__name__,
            )
        ],
    )


def check_finite(prediction: np.ndarray, score: np.ndarray | None) -> None:
    """A 422 naming the rows whose prediction or score is not finite."""
    bad = _not_finite("prediction", np.asarray(prediction)) + _not_finite("score", score)
    if bad:
        rows = sorted({i for _, i, _ in bad})
        shown = ", ".join(map(str, rows[:10])) + (", …" if len(rows) > 10 else "")
        raise RequestError(
            422,
            f"the model gives no finite answer for row(s) {shown}: their values are "
            "beyond what it can score (e.g. numbers near the float64 limit)",
            [
                _detail(f"{name}[{i}]", "a finite number", value)
                for name, i, value in bad[:MAX_DETAILS]
            ],
        )
