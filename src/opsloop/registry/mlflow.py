"""The MLflow registry adapter: the only module that imports mlflow.

Choices (see docs/architecture.md):
- Tracking and registry URIs are always set explicitly (MLflow's default changed in 3.7).
- Aliases (`champion`, `challenger`), never the deprecated stages.
- Models are saved with cloudpickle: skops (MLflow's default) refuses to load
  HistGradientBoosting and user-defined transformers unless each type is trusted by name.
  Unpickling runs code, so every model artifact's files are hashed at registration (the
  version tag `opsloop.artifact_sha256`, also in the ops store's `registered` event) and
  `load` downloads the artifact, checks the files against it and only then unpickles that
  same local copy (core/integrity.py, SECURITY.md). A version registered without a digest
  loads with a warning.
- `pip_requirements` are given explicitly: letting MLflow infer them re-imports the model in
  a subprocess and costs ~6 s per training run.
- Params and metrics are logged in batches (one `log_metric` call costs ~30 ms on SQLite).
- MLflow's errors are translated by error code (_mlflow_errors.py): a missing model, version,
  alias or artifact is not found (`find_*` returns None, `get_*` raises NotFoundError); an
  unreachable server is RegistryUnavailableError, a refusal RegistryPermissionError.
- MLflow retries an HTTP request 7 times with exponential back-off (minutes before a down
  server shows). Unless the environment sets them, opsloop bounds that to 2 retries, back-off
  factor 1 and a 30 s timeout per request (MLFLOW_HTTP_REQUEST_MAX_RETRIES,
  MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, MLFLOW_HTTP_REQUEST_TIMEOUT).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsloop.core.integrity import (
    DIGEST_TAG,
    expected_digest,
    file_digests,
    manifest_digest,
    verify,
)
from opsloop.data.features import features_from_json, features_to_json
from opsloop.errors import InvalidInputError, NotFoundError, StateError, StoreError
from opsloop.registry._mlflow_errors import display_uri, translated
from opsloop.registry.base import LoadedModel, ModelVersion, TrainingRecord

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

_ARTIFACT_DIR = "opsloop"
log = logging.getLogger("opsloop.registry")
_lock = threading.Lock()
# MLflow's HTTP retry settings, bounded unless the environment sets them (module docstring).
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    # With a tracking server MLflow writes "View run … at: URL" to stdout when a run ends,
    # which would corrupt `opsloop train --json`; the run is in opsloop's own output.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


def _pins() -> list[str]:
    pins = []
    for dist in ("scikit-learn", "pandas", "numpy", "cloudpickle"):
        try:
            pins.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


# database tracking stores MLflow opens with SQLAlchemy (SQLite is a local file: it opens)
_DATABASE_SCHEMES = ("postgresql", "postgres", "mysql", "mssql")
PROBE_TIMEOUT_S = 10


def probe_database(uri: str) -> None:
    """Connect once to a database tracking store, so that one that does not answer fails at
    once: MLflow retries opening it 10 times with doubling waits (~100 s) before it says
    anything. Raises SQLAlchemy's error (translated by the caller's `translated`)."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in _DATABASE_SCHEMES:
        return
    import sqlalchemy as sa

    args = {"connect_timeout": PROBE_TIMEOUT_S} if scheme != "mssql" else {}
    engine = sa.create_engine(uri, poolclass=sa.pool.NullPool, connect_args=args)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


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
        self._client: MlflowClient | None = None

    # MLflow keeps the URIs in process-global state; set them before every use.
    def _mlflow(self) -> Any:
        import mlflow

        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.ERROR)
        for key, value in _HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)
        return mlflow

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            for uri in dict.fromkeys((self.tracking_uri, self.registry_uri)):
                probe_database(uri)
            self._mlflow()
            from mlflow import MlflowClient

            self._client = MlflowClient(self.tracking_uri, self.registry_uri)
        return self._client

    def _calls(self, action: str, not_found: NotFoundError | None = None) -> Any:
        """A context translating MLflow's errors raised while `action` runs."""
        return translated(self.registry_uri, action, not_found=not_found)

    def _no_version(self, name: str, version: str) -> NotFoundError:
        return NotFoundError(
            f"model {name!r} has no version {version!r} in the registry at "
            f"{display_uri(self.registry_uri)}",
            fix="run `opsloop status` to see the registered versions",
        )

    def initialise(self) -> None:
        """Create or upgrade the tracking database once, before any parallel use."""
        with _lock, self._calls("open the tracking store"):
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
        with warnings.catch_warnings(), self._calls(f"register a version of {record.model_name!r}"):
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
            described: dict[str, Any] = {}
            if example is not None:  # a recommender is asked for lists, not fed rows
                output = record.estimator.predict(example[[f.name for f in record.features]])
                described = {
                    "signature": infer_signature(example, output),
                    "input_example": example,
                }
            info = mlflow.sklearn.log_model(
                record.estimator,
                name="model",
                pip_requirements=_pins(),
                serialization_format="cloudpickle",
                **described,
            )
            artifacts = {**record.artifacts, "features.json": features_to_json(record.features)}
            for file_name, text in artifacts.items():
                mlflow.log_text(text, f"{_ARTIFACT_DIR}/{file_name}")
            run_id = run.info.run_id
            tags[DIGEST_TAG] = self._stored_digest(info.model_uri)
        self._ensure_model(record.model_name)
        mv = self.client.create_model_version(
            record.model_name,
            info.model_uri,
            run_id=run_id,
            tags=tags,
            # a tracking server refuses a `models:/m-<id>` source without its model id
            model_id=info.model_id,
        )
        return self._to_version(mv)

    @staticmethod
    def _stored_digest(model_uri: str) -> str:
        """The digest of the model's files as the artifact store holds them (read back)."""
        import mlflow.artifacts

        with tempfile.TemporaryDirectory(prefix="opsloop-digest-") as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp)
            return manifest_digest(file_digests(Path(local)))

    def _ensure_model(self, name: str) -> None:
        try:
            with self._calls(f"read model {name!r}"):
                self.client.get_registered_model(name)
        except NotFoundError:
            try:
                with self._calls(f"create model {name!r}"):
                    self.client.create_registered_model(name)
            except StateError:  # created meanwhile by a parallel training run
                return

    @staticmethod
    def _to_version(mv: Any, aliases: Sequence[str] | None = None) -> ModelVersion:
        if aliases is None:
            aliases = getattr(mv, "aliases", None) or ()
        return ModelVersion(
            name=str(mv.name),
            version=str(mv.version),
            created=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC),
            run_id=mv.run_id or None,
            source=mv.source,
            tags={str(k): str(v) for k, v in (mv.tags or {}).items()},
            aliases=tuple(sorted(str(a) for a in aliases)),
        )

    def get_version(self, name: str, version: str) -> ModelVersion:
        version = str(version)
        if not version.isdigit():  # MLflow: INVALID_PARAMETER_VALUE, "must be an integer"
            raise self._no_version(name, version)
        with self._calls(f"read version {version} of {name!r}", self._no_version(name, version)):
            return self._to_version(self.client.get_model_version(name, version))

    def list_versions(self, name: str) -> Sequence[ModelVersion]:
        with self._calls(f"list the versions of {name!r}"):
            found = self.client.search_model_versions(
                f"name = '{name.replace(chr(39), 2 * chr(39))}'"
            )
            if not found:
                return []
            # search_model_versions leaves `aliases` empty on the SQL store; the model has them.
            by_version: dict[str, list[str]] = {}
            for alias, version in self._aliases(name).items():
                by_version.setdefault(version, []).append(alias)
        versions = (self._to_version(mv, by_version.get(str(mv.version), [])) for mv in found)
        return sorted(versions, key=lambda m: int(m.version))

    def find_alias(self, name: str, alias: str) -> ModelVersion | None:
        action = f"read alias {alias!r} of {name!r}"
        try:
            with self._calls(action):
                return self._to_version(self.client.get_model_version_by_alias(name, alias))
        except NotFoundError:  # no such model
            return None
        except InvalidInputError:
            # MLflow answers a missing alias with INVALID_PARAMETER_VALUE ("Registered model
            # alias champion not found."): an alias the model does not have is not found.
            with self._calls(action):
                if alias in self._aliases(name):
                    raise
            return None

    def find_alias_version(self, name: str, alias: str) -> str | None:
        found = self.find_alias(name, alias)
        return None if found is None else found.version

    def _aliases(self, name: str) -> dict[str, str]:
        model = self.client.get_registered_model(name)
        return {str(a): str(v) for a, v in (model.aliases or {}).items()}

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.get_version(name, version)
        with self._calls(f"set alias {alias!r} of {name!r}", self._no_version(name, version)):
            self.client.set_registered_model_alias(name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove `alias` (nothing to do if it is not set); NotFoundError for an unknown model."""
        with self._calls(f"delete alias {alias!r} of {name!r}"):
            self.client.delete_registered_model_alias(name, alias)

    def set_tag(self, name: str, version: str, key: str, value: str) -> None:
        with self._calls(f"tag version {version} of {name!r}", self._no_version(name, version)):
            self.client.set_model_version_tag(name, str(version), key, value)

    def load(self, name: str, version: str, *, digest: str | None = None) -> LoadedModel:
        """Download the version's model, check its files against `digest` (the ops store's
        record) and the version's tag, then unpickle that checked copy."""
        mv = self.get_version(name, version)
        what = f"version {mv.version} of {name!r}"
        expected = expected_digest(
            what,
            {"the ops store": digest, f"the registry tag {DIGEST_TAG}": mv.tags.get(DIGEST_TAG)},
        )
        self._mlflow()
        import mlflow
        import mlflow.sklearn

        with (
            self._calls(f"load version {version} of {name!r}"),
            tempfile.TemporaryDirectory(prefix="opsloop-model-") as tmp,
        ):
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{name}/{mv.version}", dst_path=tmp
                )
            )
            if expected is None:
                log.warning(
                    "%s has no recorded artifact digest (registered before opsloop recorded "
                    "one): loading it unverified; retrain to protect it (SECURITY.md)",
                    what,
                )
            else:
                verify(what, expected, file_digests(local))
            try:
                estimator = mlflow.sklearn.load_model(str(local))
            except Exception as exc:  # unpickling raises many types here; translate at the edge
                from mlflow.exceptions import MlflowException

                if isinstance(exc, MlflowException):
                    raise
                raise StoreError(
                    f"cannot load version {version} of {name!r}: {type(exc).__name__}: {exc}",
                    fix="check that the artifact store is reachable and the environment has the "
                    "model's libraries",
                ) from exc
            example = _input_example(local)
        features = features_from_json(self.read_artifact(name, mv.version, "features.json"))
        return LoadedModel(
            name=name,
            version=mv.version,
            estimator=estimator,
            features=features,
            task=mv.tags.get("opsloop.task", "binary_classification"),
            artifact_digest=expected,
            input_example=example,
        )

    def log_artifact(self, name: str, version: str, artifact: str, text: str) -> str:
        run_id = self._run_id(name, version)
        self._mlflow()
        with self._calls(f"write artifact {artifact!r} of version {version} of {name!r}"):
            self.client.log_text(run_id, text, f"{_ARTIFACT_DIR}/{artifact}")
        return f"runs:/{run_id}/{_ARTIFACT_DIR}/{artifact}"

    def read_artifact(self, name: str, version: str, artifact: str) -> str:
        run_id = self._run_id(name, version)
        mlflow = self._mlflow()
        missing = NotFoundError(
            f"version {version} of {name!r} has no artifact {artifact!r}",
            fix="retrain the model with this opsloop version",
        )
        with self._calls(f"read artifact {artifact!r} of version {version} of {name!r}", missing):
            return str(mlflow.artifacts.load_text(f"runs:/{run_id}/{_ARTIFACT_DIR}/{artifact}"))

    def _run_id(self, name: str, version: str) -> str:
        mv = self.get_version(name, version)
        if mv.run_id is None:
            raise NotFoundError(f"version {version} of {name!r} has no run")
        return mv.run_id


def _input_example(local: Path) -> pd.DataFrame | None:
    """The input example logged with the model in `local` (None without a readable one:
    a promotion then checks that the model loads, not that it predicts)."""
    import pandas as pd
    from mlflow.models import Model

    try:
        example = Model.load(str(local)).load_input_example(str(local))
    except Exception as exc:  # a missing or unreadable example only narrows the check
        log.warning("the model's input example cannot be read: %s", exc)
        return None
    return example if isinstance(example, pd.DataFrame) else None
