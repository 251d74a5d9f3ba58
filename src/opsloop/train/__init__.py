"""Training: load → validate → split → fit → evaluate → register. The gate, the approval
and the deployment that follow are composed by `opsloop.orchestrate.loop`."""

from opsloop.train.inputs import TrainingInputs, Unchanged
from opsloop.train.pipeline import train_version
from opsloop.train.trained import TrainedVersion

__all__ = ["TrainedVersion", "TrainingInputs", "Unchanged", "train_version"]
