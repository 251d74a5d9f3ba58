"""A small `opsloop init --example restaurants` project whose recommender versions are
registered through the registry API directly (the train stage for ranking is another
branch's), for the tests of the nightly top-k (`opsloop.batch.ranking`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from opsloop.core.aliases import CHAMPION
from opsloop.core.integrity import DIGEST_TAG
from opsloop.data.window import Window
from opsloop.project import Project
from opsloop.ranking.data import RankingData
from opsloop.registry.base import TrainingRecord
from opsloop.registry.memory import MemoryRegistry
from opsloop.scaffold import init_project
from opsloop.store import OpsStore

USERS, RESTAURANTS = 300, 40
MODEL = "restaurants"


def ranking_template(root: Path) -> Path:
    """The example project (small), written once per test session by the caller."""
    return init_project(root, example="restaurants", users=USERS, restaurants=RESTAURANTS)


def copy_project(template: Path, root: Path) -> Path:
    """A copy of `template` without its `.opsloop` (a fresh ops store)."""
    shutil.copytree(template, root, ignore=shutil.ignore_patterns(".opsloop"))
    return root


def memory_ranking_project(root: Path, *, file_store: bool = False) -> Project:
    """The project on an in-memory registry; its ops store in memory, or the stack's SQLite
    file (so that the CLI in another process sees the same runs) when `file_store`."""
    from opsloop.engines.memory import MemoryEngine

    store = None if file_store else OpsStore("sqlite://")
    return Project(root, registry=MemoryRegistry(), store=store, engine=MemoryEngine())


def load_all(p: Project) -> RankingData:
    """The project's whole history, as load() returns it (the data a version is fitted on)."""
    from datetime import UTC, datetime

    data = p.runtime.user_module.load(
        Window(datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    )
    assert isinstance(data, RankingData)
    return data


def context_of(data: RankingData, length: pd.Timedelta) -> RankingData:
    """`data` as a run with `retrain.anchor: data` scores from: the interactions of the
    `length` before the newest one (its second, plus one)."""
    import dataclasses

    times = pd.to_datetime(data.interactions[data.time_column], utc=True)
    end = times.max().floor("s") + pd.Timedelta(seconds=1)
    inside = ((times >= end - length) & (times < end)).to_numpy()
    kept = data.interactions.loc[inside].reset_index(drop=True)
    return dataclasses.replace(data, interactions=kept)


def register(
    p: Project, estimator: Any, *, champion: bool = True, tags: dict[str, str] | None = None
) -> str:
    """Register the fitted recommender `estimator` as the train stage does (the registry's
    `register`, the `registered` event), the champion when `champion`; its version."""
    record = TrainingRecord(
        model_name=p.name,
        estimator=estimator,
        features=[],
        task="ranking",
        params={},
        metrics={},
        tags=dict(tags or {}),
        target=p.config.target,
        dataset=pd.DataFrame(),
        dataset_digest="test",
        input_example=pd.DataFrame(),
        artifacts={},
        experiment=p.name,
    )
    mv = p.registry.register(record)
    p.store.add_event(
        "registered",
        p.name,
        version=mv.version,
        summary=f"registered {p.name} version {mv.version}",
        evidence={"run_id": mv.run_id, "artifact_sha256": mv.tags.get(DIGEST_TAG)},
    )
    if champion:
        p.registry.set_alias(p.name, CHAMPION, mv.version)
    return mv.version


class RecordingRecommender:
    """A fitted recommender's `recommend`, with one JSON line per call appended to
    `calls` (how many users, the last one, the scoring threads, the process) — what a run
    asked of it, from any process (Spark's workers too)."""

    def __init__(self, recommender: Any, calls: Path) -> None:
        self.recommender = recommender
        self.calls = str(calls)

    @property
    def n_threads(self) -> Any:
        return self.recommender.n_threads

    @n_threads.setter
    def n_threads(self, value: Any) -> None:
        self.recommender.n_threads = value

    def recommend(self, data: RankingData, users: Any, k: int, *, exclude_seen: bool = True) -> Any:
        import json
        import os

        line = {
            "users": len(users),
            "last": str(users[-1]) if len(users) else None,
            "threads": getattr(self.recommender, "n_threads", None),
            "pid": os.getpid(),
        }
        with open(self.calls, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        return self.recommender.recommend(data, users, k, exclude_seen=exclude_seen)


def recorded_calls(calls: Path) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in calls.read_text(encoding="utf-8").splitlines()]
