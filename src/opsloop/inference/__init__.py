"""Executing a fitted model faster than its own DataFrame path, and proving it answers the
same: the compiled scikit-learn pipeline (`compiled.py`) and its verification
(`verify.py`) — at registration on the holdout (train/register.py) and at load on probe
rows (serve/predictor.py). Below both train/ and serve/, which must not import each other."""

from opsloop.inference.compiled import SCORE_TOLERANCE, CompiledPipeline, Unsupported
from opsloop.inference.verify import (
    PATH_TAG,
    REASON_TAG,
    InferenceCheck,
    check_on_holdout,
    verified_compilation,
)

__all__ = [
    "PATH_TAG",
    "REASON_TAG",
    "SCORE_TOLERANCE",
    "CompiledPipeline",
    "InferenceCheck",
    "Unsupported",
    "check_on_holdout",
    "verified_compilation",
]
