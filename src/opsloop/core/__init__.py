"""Shared value types: the lowest layer, imported by every package above it."""
