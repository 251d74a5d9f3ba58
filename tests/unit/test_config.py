from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from opsloop.config import load_config, parse_config, parse_duration
from opsloop.errors import ConfigError

BASE = {"model": "churn", "target": "y", "id_column": "id", "time_column": "t"}


def test_defaults_and_durations() -> None:
    cfg = parse_config({**BASE, "monitor": {"window": "90m"}, "retrain": {"training_window": "2w"}})
    assert cfg.monitor.window == timedelta(minutes=90)
    assert cfg.retrain.training_window == timedelta(weeks=2)
    assert cfg.gate.primary.metric == "roc_auc" and cfg.gate.approval == "auto"
    assert cfg.model_dump(mode="json")["monitor"]["window"] == "90m"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"gate": {"margn": 0.1}}, "gate.margn: unknown key"),
        ({"gate": {"metric": "rmse"}}, "'rmse' is not a binary_classification metric"),
        (
            {"gate": {"margin": -0.1}},
            "gate.metrics[0].margin: the margin δ is a size and must be >= 0",
        ),
        ({"gate": {"approval": "sometimes"}}, "gate.approval"),
        ({"task": "clustering"}, "task"),
        ({"monitor": {"window": "soon"}}, "expected a duration"),
        ({"monitor": {"schedule": "every day"}}, "5-field cron"),
        ({"stack": "team"}, "stack: 'team' is not defined"),
        ({"features": ["y"]}, "features must not include"),
        ({"target": "id"}, "three different columns"),
        ({"retrain": {"on": ["new_data"]}}, "on: new_data needs a new_data:"),
        (
            {"retrain": {"on": ["new_data"], "new_data": {"min_rows": 5}}},
            "retrain.new_data.subject: required key is missing",
        ),
        (
            {"agent": {"heartbeat_interval": "10s", "heartbeat_timeout": "15s"}},
            "heartbeat_timeout must be at least twice",
        ),
        ({"notify": {"webhooks": [{"url": "hooks.slack.com/x"}]}}, "notify.webhooks[0].url"),
        ({"monitor": {"quality": {"max_unseen": 2}}}, "monitor.quality.max_unseen"),
        (
            {"monitor": {"quality": {"volume": {"min": 3}}}},
            "monitor.quality.volume.min: unknown key",
        ),
        ({"monitor": {"quality": {"max_age": "later"}}}, "expected a duration"),
        ({"monitor": {"drift": {"exact_max_rows": -1}}}, "monitor.drift.exact_max_rows"),
    ],
)
def test_bad_values_name_the_field(data: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, **data})
    assert fragment in str(info.value)


def test_missing_required_key() -> None:
    with pytest.raises(ConfigError, match="target: required key is missing"):
        parse_config({"model": "m", "id_column": "i", "time_column": "t"})


def test_not_a_mapping_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a mapping"):
        parse_config(["a"])
    bad = tmp_path / "opsloop.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_parse_duration_rejects_garbage() -> None:
    assert parse_duration(30) == timedelta(seconds=30)
    with pytest.raises(ValueError):
        parse_duration("10 parsecs")


@pytest.mark.parametrize(
    ("gate", "fragment"),
    [
        (
            {"metrics": [{"metric": "ndcg"}]},
            "gate.metrics[0].metric: 'ndcg' is not a "
            "binary_classification metric; expected one of roc_auc",
        ),
        ({"metrics": [{"metric": "f1", "margin": -0.01}]}, "the policy gives its sign"),
        ({"metrics": [{"metric": "f1", "test": "delong"}]}, "delong compares ROC AUCs"),
        ({"metrics": [{"metric": "roc_auc", "test": "mcnemar"}]}, "mcnemar compares accuracies"),
        (
            {"metrics": [{"metric": "log_loss", "direction": "higher"}]},
            "log_loss is lower-is-better",
        ),
        ({"metrics": [{"metric": "f1"}, {"metric": "f1"}]}, "each metric at most once"),
        ({"metrics": []}, "give at least one rule"),
        ({"metric": "f1", "metrics": [{"metric": "f1"}]}, "not both"),
        ({"slices": [{"name": "s"}]}, "give exactly one of column or query"),
        ({"slices": [{"name": "s", "column": "a", "query": "b > 1"}]}, "exactly one"),
        ({"slices": [{"name": "s", "column": "a", "min_rows": 0}]}, "min_rows"),
        (
            {"slices": [{"name": "s", "column": "a"}, {"name": "s", "column": "b"}]},
            "names must be unique",
        ),
        ({"confidence": 1.5}, "gate.confidence"),
        ({"regression_set": {"path": "g.csv", "min_pass": 0}}, "min_pass"),
        ({"approval_expiry": "tomorrow"}, "expected a duration"),
    ],
)
def test_bad_gate_configuration_is_a_clear_error(gate: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, "gate": gate})
    assert fragment in str(info.value)


def test_gate_shorthand_is_one_rule_and_round_trips() -> None:
    cfg = parse_config(
        {
            **BASE,
            "gate": {
                "metric": "f1",
                "policy": "superiority",
                "margin": 0.01,
                "approval_expiry": "3d",
            },
        }
    )
    (rule,) = cfg.gate.metrics
    assert (rule.metric, rule.policy, rule.margin, rule.method) == (
        "f1",
        "superiority",
        0.01,
        "bootstrap",
    )
    assert cfg.gate.approval_expiry == timedelta(days=3)
    again = parse_config(cfg.model_dump(mode="json", exclude_none=True))
    assert again == cfg


def test_serve_workers_threads_and_batching() -> None:
    cfg = parse_config(BASE)
    assert (cfg.serve.workers, cfg.serve.model_threads) == (1, 1)
    assert cfg.serve.batching.enabled is False and cfg.serve.batching.max_batch_size == 64
    assert cfg.serve.batching.max_wait == timedelta(milliseconds=2)
    cfg = parse_config(
        {
            **BASE,
            "serve": {
                "workers": 3,
                "model_threads": 0,
                "batching": {"enabled": True, "max_batch_size": 128, "max_wait": "1.5ms"},
            },
        }
    )
    assert cfg.serve.workers == 3 and cfg.serve.model_threads == 0
    assert cfg.serve.batching.max_wait == timedelta(microseconds=1500)
    dumped = cfg.model_dump(mode="json", exclude_none=True)
    assert dumped["serve"]["batching"]["max_wait"] == "0.0015s"
    assert parse_config(dumped) == cfg
    assert (
        parse_config({**BASE, "serve": {"reload_interval": "500ms"}}).model_dump(mode="json")[
            "serve"
        ]["reload_interval"]
        == "500ms"
    )
    assert parse_duration("250ms") == timedelta(milliseconds=250)


@pytest.mark.parametrize(
    ("serve", "fragment"),
    [
        ({"workers": 0}, "serve.workers"),
        ({"model_threads": -1}, "serve.model_threads"),
        ({"batching": {"max_wait": "2s"}}, "max_wait must be between 0ms and 1s"),
        ({"batching": {"max_wait": "soon"}}, "expected a duration such as '2ms'"),
        ({"batching": {"max_batch_size": 0}}, "serve.batching.max_batch_size"),
        ({"batching": {"enable": True}}, "serve.batching.enable: unknown key"),
    ],
)
def test_bad_serve_settings_name_the_field(serve: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, "serve": serve})
    assert fragment in str(info.value)


def test_orchestration_defaults() -> None:
    cfg = parse_config(
        {
            **BASE,
            "retrain": {"on": ["new_data"], "new_data": {"subject": "data.churn"}},
            "notify": {"webhooks": [{"url": "http://x/y"}]},
        }
    )
    assert cfg.agent.lease_ttl == timedelta(seconds=60)
    assert cfg.agent.heartbeat_timeout == timedelta(minutes=2) and cfg.agent.resume_crashed
    assert cfg.retrain.retries == 2 and cfg.retrain.backoff == timedelta(seconds=5)
    assert cfg.retrain.new_data is not None and cfg.retrain.new_data.min_rows == 1000
    assert "promoted" in cfg.notify.webhooks[0].events and cfg.notify.retries == 3


def test_labels_trigger_and_inbox() -> None:
    cfg = parse_config(
        {
            **BASE,
            "retrain": {"on": ["labels"], "labels": {"min_rows": 50}},
            "data": {"inbox": {"path": "inbox/*.csv"}},
        }
    )
    assert cfg.retrain.on == ("labels",) and cfg.retrain.labels.min_rows == 50
    assert cfg.data.inbox is not None and cfg.data.inbox.processed == ".opsloop/inbox/processed"
    assert parse_config(BASE).data.inbox is None
    assert parse_config(BASE).retrain.labels.min_rows == 1000
    with pytest.raises(ConfigError, match=r"retrain.labels.min_rows"):
        parse_config({**BASE, "retrain": {"labels": {"min_rows": 0}}})
    with pytest.raises(ConfigError, match=r"data.inbox.path: required key is missing"):
        parse_config({**BASE, "data": {"inbox": {"rejected": "x"}}})


def test_estimated_performance_and_ranking_settings() -> None:
    cfg = parse_config(BASE)
    est = cfg.monitor.estimated_performance
    assert est.enabled and est.metric == "roc_auc" and est.chunks == 10 and est.floor is None
    assert cfg.monitor.performance.k == 100 and cfg.monitor.performance.calibration_bins == 10
    cfg = parse_config(
        {
            **BASE,
            "retrain": {"on": ["estimated_performance"]},
            "monitor": {
                "estimated_performance": {"metric": "f1", "floor": 0.7},
                "performance": {"k": 20},
            },
        }
    )
    assert cfg.retrain.on == ("estimated_performance",)
    assert cfg.monitor.estimated_performance.floor == 0.7 and cfg.monitor.performance.k == 20
    with pytest.raises(ConfigError, match=r"monitor\.estimated_performance\.metric"):
        parse_config({**BASE, "monitor": {"estimated_performance": {"metric": "log_loss"}}})
    with pytest.raises(ConfigError, match=r"monitor\.estimated_performance\.chunks"):
        parse_config({**BASE, "monitor": {"estimated_performance": {"chunks": 1}}})


def test_monitor_quality_defaults_and_overrides() -> None:
    cfg = parse_config(BASE)
    q = cfg.monitor.quality
    assert q.enabled and q.schema_ and q.max_type_errors == 0.0 and q.max_age is None
    assert q.volume.learned_low == 0.1 and q.volume.learned_high is None
    assert cfg.monitor.drift.exact_max_rows == 5000
    custom = parse_config(
        {
            **BASE,
            "retrain": {"on": ["quality"]},
            "monitor": {
                "quality": {
                    "schema": False,
                    "max_age": "2h",
                    "features": {"x": {"max_unseen": 0.2}},
                }
            },
        }
    )
    assert custom.retrain.on == ("quality",) and not custom.monitor.quality.schema_
    assert custom.monitor.quality.max_age == timedelta(hours=2)
    assert custom.monitor.quality.limit("x", "max_unseen") == 0.2
    assert custom.monitor.quality.limit("y", "max_unseen") == 0.01


def test_another_stack_keeps_explicit_nulls_and_aliases(tmp_path) -> None:
    """`--stack` re-validates the config: a null set on purpose (no p99 check) and an
    aliased key stay as written, unset keys keep their defaults."""
    from opsloop.project import Project
    from tinyproject import write_tiny_project

    root = write_tiny_project(tmp_path / "p")
    text = (root / "opsloop.yaml").read_text()
    text += (
        "deploy: {analysis: {max_p99_ratio: null}}\n"
        "stacks: {team: {ops_store: 'sqlite:///team.db'}}\n"
    )
    text = text.replace("  window: 1h\n", "  window: 1h\n  quality: {schema: false}\n")
    (root / "opsloop.yaml").write_text(text)
    local = Project(root)
    team = Project(root, stack="team")
    assert team.config.stack == "team" and local.config.stack == "local"
    assert team.config.deploy.analysis.max_p99_ratio is None
    assert team.config.monitor.quality.schema_ is False
    assert team.config.model_dump(exclude={"stack"}) == local.config.model_dump(exclude={"stack"})


def test_monitor_clock_is_event_time_unless_answered_is_chosen() -> None:
    assert parse_config(BASE).monitor.clock == "event"
    assert parse_config({**BASE, "monitor": {"clock": "answered"}}).monitor.clock == "answered"
    with pytest.raises(ConfigError, match="clock"):
        parse_config({**BASE, "monitor": {"clock": "wall"}})


RANKING = {
    "model": "recs",
    "task": "ranking",
    "id_column": "user",
    "target": "item",
    "time_column": "t",
    "ranking": {"user_column": "user", "item_column": "item"},
    "gate": {"metric": "ndcg_at_k"},
    "monitor": {"performance": {"metric": "ndcg_at_k"}},
}


def test_a_ranking_project_and_its_defaults() -> None:
    cfg = parse_config(RANKING)
    assert cfg.ranking is not None and cfg.ranking.k == 10
    assert cfg.ranking.holdout == timedelta(days=7) and cfg.ranking.candidates == 200
    assert cfg.ranking.rating_column is None and cfg.ranking.exclude_seen
    rules = [{"metric": "popularity_bias", "margin": 0.01}, {"metric": "coverage"}]
    cfg = parse_config({**RANKING, "gate": {"metrics": rules}})
    assert cfg.gate.metrics[0].lower_is_better and not cfg.gate.metrics[1].lower_is_better
    cfg = parse_config(
        {
            **RANKING,
            "ranking": {**RANKING["ranking"], "rating_column": "stars", "min_rating": 4,
                        "k": 20, "holdout": "14d", "candidates": 20},
            "gate": {"metric": "ndcg_at_k", "slices": [{"name": "h", "column": "history"}]},
        }
    )  # fmt: skip
    assert cfg.ranking is not None and cfg.ranking.holdout == timedelta(days=14)
    assert cfg.model_dump(mode="json")["ranking"]["holdout"] == "2w"


def test_the_restaurants_template_is_a_valid_ranking_project() -> None:
    template = Path(__file__).parents[2] / "src/opsloop/examples/restaurants/template"
    cfg = load_config(template / "opsloop.yaml")
    assert cfg.task == "ranking" and cfg.ranking is not None
    assert cfg.retrain.anchor == "data"  # the history is 2025's: windows end at its last visit


def _ranking(**changes: object) -> dict:
    data = {**RANKING, **changes}
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (_ranking(ranking=None), "task: ranking needs a `ranking:` section"),
        (
            {**BASE, "ranking": RANKING["ranking"]},
            "ranking: is only for task: ranking (task is binary_classification)",
        ),
        (_ranking(id_column="customer"), "id_column ('customer') must be ranking.user_column"),
        (_ranking(target="rating"), "target ('rating') must be ranking.item_column ('item')"),
        (_ranking(gate={"metric": "roc_auc"}), "'roc_auc' is not a ranking metric"),
        (_ranking(split={"holdout": 0.2}), "split: task: ranking splits by time"),
        (_ranking(features=["age"]), "features: is not used by task: ranking"),
        (
            _ranking(gate={"metric": "ndcg_at_k", "slices": [{"name": "q", "query": "a > 1"}]}),
            "gate.slices[0]: task: ranking slices users by a column",
        ),
        (
            _ranking(ranking={"user_column": "user", "item_column": "user"}),
            "user_column and item_column must be two different columns",
        ),
        (
            _ranking(ranking={**RANKING["ranking"], "min_rating": 4}),
            "min_rating needs rating_column",
        ),
        (
            _ranking(ranking={**RANKING["ranking"], "rating_column": "t"}),
            "rating_column must differ from time_column",
        ),
        (
            _ranking(ranking={**RANKING["ranking"], "k": 50, "candidates": 20}),
            "candidates (20) must be at least k (50)",
        ),
        (_ranking(ranking={**RANKING["ranking"], "k": 0}), "ranking.k"),
        (_ranking(ranking={**RANKING["ranking"], "holdout": "0s"}), "holdout must be a positive"),
        (
            _ranking(ranking={**RANKING["ranking"], "holdout": "30d"}),
            "ranking.holdout (30d) must be shorter than retrain.training_window (30d)",
        ),
        (_ranking(ranking={**RANKING["ranking"], "users": "u.parquet"}), "ranking.users: unknown"),
    ],
)
def test_bad_ranking_configuration_names_the_field(data: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert fragment in str(info.value)
