"""One registry suite over the in-memory registry, MLflow on SQLite and an `mlflow server`:
the memory registry is held to MLflow's semantics, and MLflow's errors to opsloop's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsloop.data.features import features_from_json
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.registry.base import ModelRegistry
from registry_fixtures import FEATURES, sample_frame, training_record


def test_register_numbers_versions_per_model(registry: ModelRegistry, name: str) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    first = registry.register(training_record(name, tags={"team": "a"}))
    second = registry.register(training_record(name))
    other = registry.register(training_record(name + "-other"))
    assert (first.version, second.version, other.version) == ("1", "2", "1")
    assert first.name == name and first.aliases == ()
    assert first.run_id and first.run_id != second.run_id
    assert before <= first.created <= datetime.now(UTC) + timedelta(seconds=5)
    assert first.tags["team"] == "a" and first.tags["opsloop.task"] == "binary_classification"
    assert "team" not in second.tags
    assert registry.get_version(name, "1") == first


def test_list_versions_in_order_with_aliases(registry: ModelRegistry, name: str) -> None:
    assert list(registry.list_versions(name)) == []
    for _ in range(3):
        registry.register(training_record(name))
    registry.set_alias(name, "champion", "2")
    versions = registry.list_versions(name)
    assert [v.version for v in versions] == ["1", "2", "3"]
    assert [v.aliases for v in versions] == [(), ("champion",), ()]
    assert versions[1] == registry.get_version(name, "2")


def test_aliases_set_move_find_delete(registry: ModelRegistry, name: str) -> None:
    registry.register(training_record(name))
    registry.register(training_record(name))
    assert registry.find_alias(name, "champion") is None
    registry.set_alias(name, "champion", "1")
    registry.set_alias(name, "challenger", "1")
    found = registry.find_alias(name, "champion")
    assert found is not None and found.version == "1"
    assert found.aliases == ("challenger", "champion")  # sorted, like MLflow
    registry.set_alias(name, "champion", "2")  # an alias moves, it is never on two versions
    assert registry.find_alias_version(name, "champion") == "2"
    assert registry.get_version(name, "1").aliases == ("challenger",)
    assert registry.get_version(name, "2").aliases == ("champion",)
    registry.delete_alias(name, "champion")
    assert registry.find_alias(name, "champion") is None
    assert registry.find_alias_version(name, "champion") is None
    assert registry.get_version(name, "2").aliases == ()
    registry.delete_alias(name, "champion")  # deleting an alias that is not set is fine
    challenger = registry.find_alias(name, "challenger")
    assert challenger is not None and challenger.version == "1"


def test_find_returns_none_and_get_raises_when_missing(registry: ModelRegistry, name: str) -> None:
    assert registry.find_alias(name, "champion") is None  # no such model
    with pytest.raises(NotFoundError, match="no version '1'"):
        registry.get_version(name, "1")
    with pytest.raises(NotFoundError):
        registry.delete_alias(name, "champion")
    registry.register(training_record(name))
    assert registry.find_alias(name, "champion") is None  # no such alias
    for version in ("2", "abc"):
        with pytest.raises(NotFoundError, match=f"no version '{version}'"):
            registry.get_version(name, version)
    with pytest.raises(NotFoundError):
        registry.set_alias(name, "champion", "2")
    with pytest.raises(NotFoundError):
        registry.set_tag(name, "2", "k", "v")
    with pytest.raises(NotFoundError):
        registry.load(name, "2")
    with pytest.raises(NotFoundError):
        registry.read_artifact(name, "2", "features.json")
    assert registry.find_alias(name, "champion") is None


def test_reserved_alias_names_are_refused(registry: ModelRegistry, name: str) -> None:
    registry.register(training_record(name))
    for alias in ("latest", "LATEST", "v1", "V12"):
        with pytest.raises(InvalidInputError, match="reserved"):
            registry.set_alias(name, alias, "1")
    assert registry.get_version(name, "1").aliases == ()


def test_tags(registry: ModelRegistry, name: str) -> None:
    registry.register(training_record(name))
    registry.register(training_record(name))
    registry.set_tag(name, "1", "opsloop.gate", "passed")
    registry.set_tag(name, "1", "opsloop.gate", "failed")  # overwrite
    registry.set_alias(name, "champion", "1")
    assert registry.get_version(name, "1").tags["opsloop.gate"] == "failed"
    assert "opsloop.gate" not in registry.get_version(name, "2").tags
    found = registry.find_alias(name, "champion")
    assert found is not None and found.tags["opsloop.gate"] == "failed"
    assert found.aliases == ("champion",)  # a tag does not lose the aliases


def test_artifacts_read_write_missing(registry: ModelRegistry, name: str) -> None:
    mv = registry.register(training_record(name))
    assert features_from_json(registry.read_artifact(name, "1", "features.json")) == FEATURES
    assert registry.read_artifact(name, "1", "schema.yaml") == "columns: [x1, x2]\n"
    with pytest.raises(NotFoundError, match=r"no artifact 'nothing\.json'"):
        registry.read_artifact(name, "1", "nothing.json")
    uri = registry.log_artifact(name, "1", "report.json", '{"ok": true}')
    assert uri == f"runs:/{mv.run_id}/opsloop/report.json"
    assert registry.read_artifact(name, "1", "report.json") == '{"ok": true}'
    with pytest.raises(NotFoundError):
        registry.log_artifact(name, "9", "report.json", "{}")


def test_load_and_predict(registry: ModelRegistry, name: str) -> None:
    import numpy as np

    record = training_record(name)
    registry.register(record)
    loaded = registry.load(name, "1")
    assert (loaded.name, loaded.version, loaded.task) == (name, "1", "binary_classification")
    assert loaded.features == FEATURES and loaded.feature_names == ["x1", "x2"]
    frame = sample_frame()
    prediction, score = loaded.predict_frame(frame)  # type: ignore[arg-type]
    x = frame[["x1", "x2"]]  # type: ignore[index]
    assert loaded.estimator is not record.estimator  # a copy, as from a registry
    np.testing.assert_array_equal(prediction, record.estimator.predict(x))
    assert score is not None
    np.testing.assert_allclose(score, record.estimator.predict_proba(x)[:, 1])


def test_a_recommender_registers_without_an_input_example(
    registry: ModelRegistry, name: str
) -> None:
    """A `task: ranking` model is asked for lists, not fed rows: no signature, no example;
    it loads back (verified) and recommends as before."""
    from dataclasses import replace

    import numpy as np

    from opsloop.ranking.models import PopularityRecommender
    from ranking_fixtures import synthetic_world

    data = synthetic_world(40, 8, days=20, visits_per_user=5, seed=5)
    recommender = PopularityRecommender().fit(data)
    record = replace(
        training_record(name),
        estimator=recommender,
        features=[],
        task="ranking",
        target="item_id",
        dataset=data.interactions,
        input_example=None,
        artifacts={"ranking.json": "{}"},
    )
    registry.register(record)
    loaded = registry.load(name, "1")
    assert loaded.task == "ranking" and loaded.features == [] and loaded.input_example is None
    users = data.users["user_id"].to_numpy()[:5]
    got = loaded.estimator.recommend(data, users, 3)
    want = recommender.recommend(data, users, 3)
    np.testing.assert_array_equal(got.items, want.items)
    assert registry.read_artifact(name, "1", "ranking.json") == "{}"
