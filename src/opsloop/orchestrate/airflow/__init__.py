"""Airflow export: DAG files that run the opsloop loop's steps (`opsloop airflow export`)."""

from opsloop.orchestrate.airflow.export import ExportedDag, export_dags

__all__ = ["ExportedDag", "export_dags"]
