"""The promotion gate: challenger vs champion on the same holdout."""

from opsloop.gate.decide import GateVerdict, decide

__all__ = ["GateVerdict", "decide"]
