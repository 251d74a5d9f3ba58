"""Engines are chosen by name (`stack.engine`) and imported only when chosen; every adapter
has every capability of the `Engine` port with the port's signatures."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from opsloop.engines import (
    ENGINES,
    ReconstructionErrors,
    WindowProfiler,
    WindowReader,
    create_engine,
)
from opsloop.engines.base import FeedbackReader, WindowScanner, WindowSeries
from opsloop.engines.duckdb import DuckDBEngine
from opsloop.engines.memory import MemoryEngine
from opsloop.engines.spark import SparkEngine
from opsloop.errors import ConfigError

CAPABILITIES = (
    WindowReader,
    WindowProfiler,
    ReconstructionErrors,
    FeedbackReader,
    WindowScanner,
    WindowSeries,
)


def test_the_configured_name_builds_the_adapter(tmp_path: Path) -> None:
    engine = create_engine(
        "duckdb", prediction_root=tmp_path / "log", labels_root=tmp_path / "labels"
    )
    assert isinstance(engine, DuckDBEngine)
    assert engine.prediction_root == tmp_path / "log"
    assert engine.count_labels() == 0


def test_an_unknown_name_says_which_exist() -> None:
    with pytest.raises(ConfigError) as err:
        create_engine("hive")
    assert err.value.got == "'hive'"
    assert err.value.expected is not None and "duckdb, spark" in err.value.expected


def test_a_new_engine_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ENGINES, "memory", "opsloop.engines.memory:MemoryEngine")
    assert isinstance(create_engine("memory"), MemoryEngine)


def test_every_configurable_name_is_registered() -> None:
    from typing import get_args

    from opsloop.config import StackConfig

    names = get_args(StackConfig.model_fields["engine"].annotation)
    assert set(names) == set(ENGINES)


def test_choosing_an_engine_imports_it_not_before() -> None:
    code = (
        "import sys, opsloop.engines; "
        "assert 'duckdb' not in sys.modules and 'opsloop.engines.duckdb' not in sys.modules; "
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_the_spark_engine_starts_no_jvm_until_it_reads(tmp_path: Path) -> None:
    """`stack.engine: spark` costs nothing until the engine reads (a server never does):
    neither PySpark is imported nor a session started by building it."""
    code = (
        "import sys; from opsloop.engines import create_engine; "
        f"e = create_engine('spark', prediction_root={str(tmp_path)!r}, "
        f"labels_root={str(tmp_path)!r}, "
        "master='spark://h:7077', conf={'spark.executor.memory': '1g'}); "
        "assert 'pyspark' not in sys.modules, 'imported'; "
        "print(type(e).__name__, e.master, e.conf)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "SparkEngine spark://h:7077 {'spark.executor.memory': '1g'}"


def test_a_stack_names_spark_with_its_master_and_settings() -> None:
    from opsloop.config import parse_config

    cfg = parse_config(
        {
            "model": "m",
            "target": "y",
            "id_column": "id",
            "time_column": "t",
            "stack": "team",
            "stacks": {"team": {"engine": "spark", "spark": {"conf": {"a.b": "1"}}}},
        },
        source="test",
    )
    assert cfg.active_stack.engine == "spark"
    assert (cfg.active_stack.spark.master, cfg.active_stack.spark.conf) == (
        "local[*]",
        {"a.b": "1"},
    )


@pytest.mark.parametrize(
    "adapter", [DuckDBEngine, MemoryEngine, SparkEngine], ids=["duckdb", "memory", "spark"]
)
@pytest.mark.parametrize("capability", CAPABILITIES, ids=lambda c: c.__name__)
def test_adapters_have_every_capability(adapter: type, capability: type) -> None:
    members = [
        n for n, v in vars(capability).items() if inspect.isfunction(v) and not n.startswith("_")
    ]
    assert members
    for name in members:
        want = inspect.signature(getattr(capability, name))
        got = inspect.signature(getattr(adapter, name))
        assert list(got.parameters) == list(want.parameters), (adapter, name)
        assert [p.kind for p in got.parameters.values()] == [
            p.kind for p in want.parameters.values()
        ], (adapter, name)
