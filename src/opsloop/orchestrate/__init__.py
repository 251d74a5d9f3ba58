"""Orchestration: the in-process agent (schedules, triggers, retraining)."""
