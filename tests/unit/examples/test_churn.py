"""The churn scenario has the properties the demo relies on, with a real model from the
template's build()."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from opsloop.data.window import Window
from opsloop.examples.churn import FEATURES_CATEGORICAL, FEATURES_NUMERIC, TARGET, generate
from opsloop.scaffold import init_project

NOW = datetime(2026, 6, 1, tzinfo=UTC)
START = NOW - timedelta(days=10)
FEATURES = [*FEATURES_NUMERIC, *FEATURES_CATEGORICAL]


def user_module(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("churn_user_model", root / "model.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_project(tmp_path_factory.mktemp("churn") / "p", rows=3000, now=NOW)


def test_shape_determinism_and_realism() -> None:
    a = generate(2000, START, NOW, seed=3)
    assert a.equals(generate(2000, START, NOW, seed=3))
    assert len(FEATURES) == 15 and list(a.columns[:2]) == ["customer_id", "event_time"]
    assert a["customer_id"].is_unique and a["event_time"].is_monotonic_increasing
    assert str(a["event_time"].dt.tz) == "UTC"
    assert 0.18 < a[TARGET].mean() < 0.35
    assert a["data_usage_gb"].isna().any() and a["days_since_last_login"].isna().any()
    drifted = generate(2000, START, NOW, drift=1.0, seed=3)
    assert drifted["monthly_charges"].mean() > a["monthly_charges"].mean() + 10
    assert (drifted["contract"] == "month-to-month").mean() > (
        a["contract"] == "month-to-month"
    ).mean() + 0.15
    with pytest.raises(ValueError):
        generate(10, START, NOW, drift=2.0)


def test_scenario_breaks_the_old_model_and_retraining_recovers(project: Path) -> None:
    build = user_module(project).build
    old = build().fit(*_xy(generate(8000, START, NOW, seed=1)))
    new = build().fit(*_xy(generate(4000, START, NOW, drift=1.0, seed=2)))
    fresh = generate(4000, START, NOW, seed=3)
    shifted = generate(4000, START, NOW, drift=1.0, seed=4)
    auc_fresh = roc_auc_score(fresh[TARGET], old.predict_proba(fresh[FEATURES])[:, 1])
    auc_old = roc_auc_score(shifted[TARGET], old.predict_proba(shifted[FEATURES])[:, 1])
    auc_new = roc_auc_score(shifted[TARGET], new.predict_proba(shifted[FEATURES])[:, 1])
    assert auc_fresh >= 0.75
    assert auc_fresh - auc_old >= 0.05
    assert auc_new - auc_old >= 0.03


def _xy(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return df[FEATURES], df[TARGET]


def test_template_load_filters_by_window(project: Path) -> None:
    load = user_module(project).load
    everything = load(Window(NOW - timedelta(days=61), NOW + timedelta(days=1)))
    assert len(everything) == 3000
    week = load(Window(NOW - timedelta(days=7), NOW))
    assert 0 < len(week) < 3000
    assert week["event_time"].min() >= pd.Timestamp(NOW - timedelta(days=7))
    assert load(Window(NOW + timedelta(days=5), NOW + timedelta(days=6))).empty


def test_build_handles_object_categoricals_and_one_row(project: Path) -> None:
    module = user_module(project)
    data = generate(1500, START, NOW, seed=5)
    model = module.build().fit(*_xy(data))
    row = data[FEATURES].head(1).astype({c: object for c in FEATURES_CATEGORICAL})
    assert model.predict_proba(row).shape == (1, 2)
