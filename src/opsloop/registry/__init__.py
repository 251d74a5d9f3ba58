"""Model registry: a Protocol, the MLflow adapter and an in-memory implementation."""

from opsloop.registry.base import LoadedModel, ModelRegistry, ModelVersion, TrainingRecord

__all__ = ["LoadedModel", "ModelRegistry", "ModelVersion", "TrainingRecord"]
