"""The training pipeline: load → validate → split → fit → evaluate → register → gate → approve."""

from opsloop.train.pipeline import TrainOutcome, run_training

__all__ = ["TrainOutcome", "run_training"]
