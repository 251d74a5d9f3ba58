"""The model registry interface. MLflow is the real one (mlflow.py); memory.py is for tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from opsloop.data.features import FeatureSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    created: datetime
    run_id: str | None
    source: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainingRecord:
    """Everything a training run logs and registers."""

    model_name: str
    estimator: Any
    features: list[FeatureSpec]
    task: str
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    target: str
    dataset: pd.DataFrame  # the training frame, logged as an MLflow dataset input
    dataset_digest: str
    # rows to log with the model (MLflow's signature is inferred from them); None for a
    # model that is not fed rows (a recommender, `task: ranking`)
    input_example: pd.DataFrame | None
    artifacts: dict[str, str]  # artifact file name -> text content (JSON, YAML)
    experiment: str


# the version tags of the registration's verdict on the compiled path (inference/verify.py)
PATH_TAG = "opsloop.inference_path"
REASON_TAG = "opsloop.inference_reason"


@dataclass(frozen=True)
class InferenceVerdict:
    """How a version may be served, as verified at its registration (opsloop.inference):
    `compiled` or `plain`, and why."""

    path: str
    reason: str = ""


@dataclass
class LoadedModel:
    """A model version ready to predict, with what the server needs to validate input."""

    name: str
    version: str
    estimator: Any
    features: list[FeatureSpec]
    task: str
    artifacts: Mapping[str, str] = field(default_factory=dict)
    # the SHA-256 its artifact was checked against before unpickling; None: loaded
    # unverified (registered before digests were recorded)
    artifact_digest: str | None = None
    # the rows stored with the version at registration (MLflow's input example), used to
    # smoke-test it before a promotion commits (deploy/smoke.py); None when it has none
    input_example: pd.DataFrame | None = None
    # the registration's verdict on the compiled path (the ops store's `registered` event),
    # which the server honours (serve/predictor.py); None: not known to whoever loaded it
    registered_inference: InferenceVerdict | None = None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def predict_frame(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (prediction, score); score is P(positive class) for binary tasks."""
        return self.predict_features(self.estimator, frame[self.feature_names])

    def predict_features(self, estimator: Any, x: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """`predict_frame` for `x` that already holds exactly the features, in order, in a
        form `estimator` (this version's, or a view of it: serve/predictor.py) accepts."""
        if self.task == "binary_classification" and hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(x)[:, 1]
            classes = estimator.classes_
            return classes[(proba >= 0.5).astype(int)], proba
        return estimator.predict(x), None


class ModelRegistry(Protocol):
    """Versions, aliases and artifacts of registered models."""

    def register(self, record: TrainingRecord) -> ModelVersion: ...

    def get_version(self, name: str, version: str) -> ModelVersion: ...

    def list_versions(self, name: str) -> Sequence[ModelVersion]: ...

    def find_alias(self, name: str, alias: str) -> ModelVersion | None: ...

    def find_alias_version(self, name: str, alias: str) -> str | None:
        """Only the version `alias` points at (None: not set) — what a server's periodic
        alias check needs, readable without MLflow's client (registry/aliaspeek.py)."""
        ...

    def set_alias(self, name: str, alias: str, version: str) -> None: ...

    def delete_alias(self, name: str, alias: str) -> None: ...

    def set_tag(self, name: str, version: str, key: str, value: str) -> None: ...

    def load(self, name: str, version: str, *, digest: str | None = None) -> LoadedModel:
        """The version ready to predict. Its artifact is checked against `digest` (the ops
        store's record of it, when the caller has one) and the registry's own record
        before it is unpickled: `ArtifactIntegrityError` on a mismatch."""
        ...

    def read_artifact(self, name: str, version: str, artifact: str) -> str: ...

    def log_artifact(self, name: str, version: str, artifact: str, text: str) -> str:
        """Store a text artifact with the version's run; return its URI."""
        ...
