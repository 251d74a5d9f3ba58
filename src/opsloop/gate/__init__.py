"""The promotion gate: challenger vs champion on the same holdout, decided on statistics
(see evaluate.py for the rule and stats.py for which test is used when)."""
