"""Monitoring: reference profiles, drift statistics, performance on late labels, reports."""
