"""The MLflow registry adapter: the only module that imports mlflow.

Choices (see docs/architecture.md):
- Tracking and registry URIs are always set explicitly (MLflow's default changed in 3.7).
- Aliases (`champion`, `challenger`), never the deprecated stages.
- Models are saved with cloudpickle: skops (MLflow's default) refuses to load
  HistGradientBoosting and user-defined transformers unless each type is trusted by name.
  Load models only from a registry you control.
- `pip_requirements` are given explicitly: letting MLflow infer them re-imports the model in
  a subprocess and costs ~6 s per training run.
- Params and metrics are logged in batches (one `log_metric` call costs ~30 ms on SQLite).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from opsloop.data.features import features_from_json, features_to_json
from opsloop.errors import NotFoundError, StoreError
from opsloop.registry.base import LoadedModel, ModelVersion, TrainingRecord

_ARTIFACT_DIR = "opsloop"
_lock = threading.Lock()


def _pins() -> list[str]:
    pins = []
    for dist in ("scikit-learn", "pandas", "numpy", "cloudpickle"):
        try:
            pins.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


class MlflowRegistry:
    def __init__(
        self,
        tracking_uri: str,
        *,
        registry_uri: str | None = None,
        artifact_location: str | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.artifact_location = artifact_location
        self._client: Any = None

    # MLflow keeps the URIs in process-global state; set them before every use.
    def _mlflow(self) -> Any:
        import mlflow

        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.ERROR)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)
        return mlflow

    @property
    def client(self) -> Any:
        if self._client is None:
            self._mlflow()
            from mlflow import MlflowClient

            self._client = MlflowClient(self.tracking_uri, self.registry_uri)
        return self._client

    def initialise(self) -> None:
        """Create or upgrade the tracking database once, before any parallel use."""
        with _lock:
            self.client.search_experiments(max_results=1)

    def _experiment_id(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        location = None
        if self.artifact_location:
            location = self.artifact_location.rstrip("/") + f"/{name}"
            if "://" not in location:
                Path(location).mkdir(parents=True, exist_ok=True)
                location = Path(location).resolve().as_uri()
        return str(self.client.create_experiment(name, artifact_location=location))

    def register(self, record: TrainingRecord) -> ModelVersion:
        # MLflow warns about integer columns in inferred schemas and about pickle formats;
        # both are deliberate here (see the module docstring).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return self._register(record)

    def _register(self, record: TrainingRecord) -> ModelVersion:
        self._mlflow()
        import mlflow
        import mlflow.sklearn
        from mlflow.models import infer_signature

        experiment_id = self._experiment_id(record.experiment)
        tags = {**record.tags, "opsloop.task": record.task}
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"train-{record.model_name}"
        ) as run:
            mlflow.log_params({k: str(v)[:500] for k, v in record.params.items()})
            mlflow.log_metrics(record.metrics)
            mlflow.set_tags(tags)
            import mlflow.data

            dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
                record.dataset,
                targets=record.target,
                name=f"{record.model_name}-training",
                digest=record.dataset_digest[:36],
            )
            mlflow.log_input(dataset, context="training")
            example = record.input_example
            output = record.estimator.predict(example[[f.name for f in record.features]])
            signature = infer_signature(example, output)
            info = mlflow.sklearn.log_model(
                record.estimator,
                name="model",
                signature=signature,
                input_example=example,
                pip_requirements=_pins(),
                serialization_format="cloudpickle",
            )
            artifacts = {**record.artifacts, "features.json": features_to_json(record.features)}
            for file_name, text in artifacts.items():
                mlflow.log_text(text, f"{_ARTIFACT_DIR}/{file_name}")
            run_id = run.info.run_id
        self._ensure_model(record.model_name)
        mv = self.client.create_model_version(
            record.model_name,
            info.model_uri,
            run_id=run_id,
            tags=tags,
        )
        return self._to_version(mv)

    def _ensure_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name)

    def _to_version(self, mv: Any) -> ModelVersion:
        return ModelVersion(
            name=mv.name,
            version=str(mv.version),
            created=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC),
            run_id=mv.run_id,
            source=mv.source,
            tags=dict(mv.tags or {}),
            aliases=tuple(getattr(mv, "aliases", ()) or ()),
        )

    def get_version(self, name: str, version: str) -> ModelVersion:
        from mlflow.exceptions import MlflowException

        try:
            return self._to_version(self.client.get_model_version(name, str(version)))
        except MlflowException:
            raise NotFoundError(
                f"model {name!r} has no version {version!r} in the registry at {self.registry_uri}",
                fix="run `opsloop status` to see the registered versions",
            ) from None

    def list_versions(self, name: str) -> Sequence[ModelVersion]:
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(f"name = '{name}'")
        except MlflowException:
            return []
        return sorted((self._to_version(mv) for mv in found), key=lambda m: int(m.version))

    def find_alias(self, name: str, alias: str) -> ModelVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            return self._to_version(self.client.get_model_version_by_alias(name, alias))
        except MlflowException:
            return None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.get_version(name, version)
        self.client.set_registered_model_alias(name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_registered_model_alias(name, alias)
        except MlflowException:
            return

    def set_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.client.set_model_version_tag(name, str(version), key, value)

    def load(self, name: str, version: str) -> LoadedModel:
        mv = self.get_version(name, version)
        self._mlflow()
        import mlflow
        import mlflow.sklearn

        try:
            estimator = mlflow.sklearn.load_model(f"models:/{name}/{mv.version}")
        except Exception as exc:  # MLflow raises many types here; translate at the edge
            raise StoreError(
                f"cannot load version {version} of {name!r}: {type(exc).__name__}: {exc}",
                fix="check that the artifact store is reachable and the environment has the "
                "model's libraries",
            ) from None
        features = features_from_json(self.read_artifact(name, mv.version, "features.json"))
        return LoadedModel(
            name=name,
            version=mv.version,
            estimator=estimator,
            features=features,
            task=mv.tags.get("opsloop.task", "binary_classification"),
        )

    def log_artifact(self, name: str, version: str, artifact: str, text: str) -> str:
        mv = self.get_version(name, version)
        if mv.run_id is None:
            raise NotFoundError(f"version {version} of {name!r} has no run")
        self._mlflow()
        self.client.log_text(mv.run_id, text, f"{_ARTIFACT_DIR}/{artifact}")
        return f"runs:/{mv.run_id}/{_ARTIFACT_DIR}/{artifact}"

    def read_artifact(self, name: str, version: str, artifact: str) -> str:
        mv = self.get_version(name, version)
        if mv.run_id is None:
            raise NotFoundError(f"version {version} of {name!r} has no run")
        mlflow = self._mlflow()
        try:
            return str(mlflow.artifacts.load_text(f"runs:/{mv.run_id}/{_ARTIFACT_DIR}/{artifact}"))
        except Exception:
            raise NotFoundError(
                f"version {version} of {name!r} has no artifact {artifact!r}",
                fix="retrain the model with this opsloop version",
            ) from None
