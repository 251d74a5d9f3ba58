"""`opsloop predict`'s summary lines (`cli/batch.py`): a tabular run's rows, a ranking
run's users, list length and fallback rows."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from opsloop.batch.predict import PredictResult
from opsloop.cli.batch import print_predicted
from opsloop.store.records import BatchRun

WHEN = datetime(2026, 12, 7, 2, tzinfo=UTC)


def _printed(details: dict, inference: str) -> str:
    run = BatchRun(
        1, "r1", "m", "2", "succeeded", WHEN, WHEN, 500_010, "in", "fp", "/out/run=r1", 10.0,
        None, details,
    )  # fmt: skip
    console = Console(record=True, width=200)
    print_predicted(console, PredictResult(run, inference, "why", 500_000))
    return console.export_text()


def test_a_ranking_run_says_users_k_and_the_fallback_list() -> None:
    ranking = {"k": 10, "users": 50_000, "fallback_rows": 10}
    text = _printed({"ranking": ranking}, "recommender")
    assert text.startswith(
        "Ranked the top 10 for 50,000 users (500,010 rows with the 10 of the fallback list) "
        "with version 2 in 10.0 s (50,001 rows/s, recommender path)."
    )
    assert "Run: r1; 500,000 rows added to the prediction log." in text


def test_a_tabular_run_says_rows() -> None:
    text = _printed({}, "compiled")
    assert text.startswith("Scored 500,010 rows with version 2 in 10.0 s (50,001 rows/s")
