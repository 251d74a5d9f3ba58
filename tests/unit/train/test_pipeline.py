"""The training pipeline on in-memory backends with real scikit-learn user code."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from opsloop.errors import DataValidationError, UserCodeError
from opsloop.project import Project


def kinds(p: Project) -> list[str]:
    return [e.kind for e in p.events()]


def test_first_training_registers_gates_and_promotes(memory_project: Project) -> None:
    p = memory_project
    o = p.train()
    assert o.version == "1" and o.gate_passed and o.promoted and o.approval == "approved"
    assert o.metrics["roc_auc"] > 0.75
    assert o.rows["train"] + o.rows["holdout"] == o.rows["total"] == 1500
    assert kinds(p) == ["trained", "registered", "gate_passed", "approved", "promoted"]
    dep = p.store.find_deployment("tiny")
    assert dep is not None and dep.version == "1" and dep.revision == 1
    assert p.registry.find_alias("tiny", "champion").version == "1"  # type: ignore[union-attr]
    assert p.registry.find_alias("tiny", "challenger") is None
    mv = p.registry.get_version("tiny", "1")
    assert len(mv.tags["opsloop.data_fingerprint"]) == 64
    for artifact in ("schema.yaml", "reference_profile.json", "features.json"):
        assert p.registry.read_artifact("tiny", "1", artifact)
    (run,) = p.store.list_runs("tiny")
    assert run.status == "succeeded"
    assert [s["name"] for s in run.stages] == [
        "load",
        "validate",
        "split",
        "fit",
        "evaluate",
        "register",
        "gate",
        "approve",
    ]


def test_second_training_compares_with_champion(memory_project: Project) -> None:
    p = memory_project
    p.train()
    o = p.train(force=True)  # the same data, code and configuration: forced
    assert o.version == "2" and o.champion_version == "1"
    gate = p.store.find_gate("tiny", "2")
    assert gate is not None and gate.champion_value is not None
    assert gate.passed  # same data: non-inferior
    assert p.store.find_deployment("tiny").version == "2"  # type: ignore[union-attr]


def test_floor_failure_does_not_promote(tmp_path) -> None:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore
    from tinyproject import write_tiny_project

    root = write_tiny_project(tmp_path / "p", floor=0.99)
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine())
    o = p.train()
    assert not o.gate_passed and not o.promoted and o.approval == "none"
    assert p.store.find_deployment("tiny") is None
    assert "gate_failed" in kinds(p) and "promoted" not in kinds(p)
    assert "misses the floor" in o.gate_reasons[0]


def test_schema_violation_stops_before_training(memory_project: Project) -> None:
    from tinyproject import tiny_frame

    p = memory_project
    p.train()
    bad = tiny_frame(50, seed=3, prefix="bad", days=1)
    bad["x1"] = "not a number"
    bad.to_parquet(p.root / "data" / "bad.parquet", index=False)
    with pytest.raises(DataValidationError, match="x1"):
        p.train()
    assert "data_invalid" in kinds(p) and kinds(p)[-1] == "training_failed"
    run = p.store.list_runs("tiny")[0]
    assert run.status == "failed" and run.stages[-1]["name"] == "validate"
    assert p.store.find_deployment("tiny").version == "1"  # type: ignore[union-attr]
    assert len(p.registry.list_versions("tiny")) == 1


def test_missing_columns_are_named(memory_project: Project) -> None:
    p = memory_project
    df = pd.read_parquet(p.root / "data" / "history.parquet").drop(columns=["label"])
    df.to_parquet(p.root / "data" / "history.parquet", index=False)
    with pytest.raises(DataValidationError, match=r"column\(s\) \['label'\]"):
        p.train()


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        (
            "def load(window):\n    return [1]\ndef build():\n    return 1\n",
            "returned the wrong type",
        ),
        ("def build():\n    return 1\n", "does not define load()"),
        ("import nonexistent_pkg\n", "importing model.py failed"),
    ],
)
def test_user_code_errors_are_clear(memory_project: Project, code: str, fragment: str) -> None:
    """Deterministic errors in the user's code are not retried (retrain.backoff is 5 s)."""
    (memory_project.root / "model.py").write_text(code)
    t0 = time.monotonic()
    with pytest.raises(UserCodeError) as info:
        memory_project.train()
    assert time.monotonic() - t0 < memory_project.config.retrain.backoff.total_seconds()
    assert fragment in str(info.value)
    (run,) = memory_project.store.list_runs("tiny")
    assert run.status == "failed" and [s["name"] for s in run.stages] == ["load"]
    assert "retries" not in run.stages[0]["detail"]


def test_an_error_raised_by_load_is_retried_then_reported(tmp_path) -> None:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore
    from tinyproject import write_tiny_project

    root = write_tiny_project(tmp_path / "p")
    text = (root / "opsloop.yaml").read_text()
    (root / "opsloop.yaml").write_text(
        text.replace("cooldown: 1h}", "cooldown: 1h, retries: 2, backoff: 0.01s}")
    )
    (root / "model.py").write_text(
        "def load(window):\n    raise RuntimeError('db down')\ndef build():\n    return 1\n"
    )
    p = Project(root, registry=MemoryRegistry(), store=OpsStore("sqlite://"), engine=MemoryEngine())
    with pytest.raises(UserCodeError) as info:
        p.train()
    assert "load(window) in model.py raised RuntimeError: db down" in str(info.value)
    (run,) = p.store.list_runs("tiny")
    assert [r["retry_in"] for r in run.stages[0]["detail"]["retries"]] == [0.01, 0.02]
    assert kinds(p)[-1] == "training_failed"


def test_an_import_error_in_model_py_fails_at_once(memory_project: Project) -> None:
    p = memory_project
    code = (p.root / "model.py").read_text()
    (p.root / "model.py").write_text("import nonexistent_pkg  # a typo\n" + code)
    t0 = time.monotonic()
    with pytest.raises(UserCodeError) as info:
        p.train()
    assert time.monotonic() - t0 < p.config.retrain.backoff.total_seconds()
    assert str(info.value).startswith(
        "importing model.py failed: ModuleNotFoundError: No module named 'nonexistent_pkg'."
    )
    assert info.value.fix is not None and "python " in info.value.fix
    assert isinstance(info.value.__cause__, ImportError)
    (run,) = p.store.list_runs("tiny")
    assert run.status == "failed" and run.stages[0]["status"] == "failed"
    assert "retries" not in run.stages[0]["detail"]
    failed = p.events()[-1]
    assert failed.kind == "training_failed" and failed.evidence["stage"] == "load"
    assert p.registry.list_versions("tiny") == []


def test_build_must_return_an_estimator(memory_project: Project) -> None:
    path = memory_project.root / "model.py"
    path.write_text(path.read_text().replace("return make_pipeline(", "return 42 or ("))
    with pytest.raises(UserCodeError, match="not an estimator"):
        memory_project.train()


def test_training_alone_registers_a_challenger_and_stops(memory_project: Project) -> None:
    """train/ fits, evaluates, profiles and registers; the gate, the approval and the
    deployment are the loop's (orchestrate/loop.py)."""
    from opsloop.data.window import Window
    from opsloop.stages import StageRecorder
    from opsloop.train import TrainedVersion, train_version

    p = memory_project
    rt = p.runtime
    rec = StageRecorder(rt.store, "tiny", "train", trigger="manual")
    window = Window.last(rt.config.retrain.training_window, end=rt.now())
    trained = train_version(rt, rec, window=window, trigger="manual")
    assert isinstance(trained, TrainedVersion)
    assert trained.version == "1" and trained.pipeline_run == rec.run_id
    assert trained.champion is None and trained.window == window
    assert trained.challenger.version == "1" and trained.metrics["roc_auc"] > 0.75
    assert len(trained.holdout) == trained.rows["holdout"] > 0
    assert trained.mlflow_run_id == p.registry.get_version("tiny", "1").run_id
    assert [s["name"] for s in rec.stages] == [
        "load",
        "validate",
        "split",
        "fit",
        "evaluate",
        "register",
    ]
    assert kinds(p) == ["trained", "registered"]
    assert p.store.find_gate("tiny", "1") is None and p.store.find_approval("tiny", "1") is None
    assert p.store.find_deployment("tiny") is None
    assert p.registry.find_alias("tiny", "challenger").version == "1"  # type: ignore[union-attr]


def test_train_imports_no_other_loop_step() -> None:
    import ast
    from pathlib import Path

    import opsloop.train

    imported: set[str] = set()
    for path in Path(opsloop.train.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
    assert "opsloop.registry.base" in imported  # the walk sees function-level imports
    steps = ("opsloop.gate", "opsloop.deploy", "opsloop.orchestrate")
    assert not [m for m in imported if m.startswith(steps)]


def test_registration_records_the_compiled_path_verified_on_the_holdout(
    memory_project: Project,
) -> None:
    """The version's tags, its `trained` and `registered` events and `opsloop status` say
    how it may be served: the tiny project's one-hot + logistic pipeline is compiled."""
    import io

    from rich.console import Console

    from opsloop.cli.render import print_status

    p = memory_project
    o = p.train()
    mv = p.registry.get_version("tiny", o.version)
    assert mv.tags["opsloop.inference_path"] == "compiled"
    assert "holdout rows" in mv.tags["opsloop.inference_reason"]
    trained, registered = (e for e in p.events() if e.kind in ("trained", "registered"))
    holdout = o.rows["holdout"]
    for event in (trained, registered):
        inference = event.evidence["inference"]
        assert inference["path"] == "compiled" and inference["rows"] > holdout
        assert inference["max_score_diff"] <= inference["tolerance"]
    assert registered.evidence["tags"]["opsloop.inference_path"] == "compiled"
    view = p.status_view()
    assert view.champion is not None and view.champion.inference is not None
    assert view.champion.inference.path == "compiled"
    assert p.status()["champion"]["inference"]["path"] == "compiled"
    out = io.StringIO()
    print_status(Console(file=out, width=200), view)
    assert f"compiled — verified on {holdout} holdout rows" in out.getvalue()


def test_a_pipeline_the_compiler_refuses_is_registered_as_plain(tiny_project) -> None:
    from opsloop.engines.memory import MemoryEngine
    from opsloop.registry.memory import MemoryRegistry
    from opsloop.store import OpsStore

    code = tiny_project / "model.py"
    code.write_text(
        code.read_text()
        .replace("OneHotEncoder\n", "OneHotEncoder, PolynomialFeatures\n")
        .replace("LogisticRegression(max_iter=500))", "PolynomialFeatures(), LogisticRegression())")
    )
    p = Project(
        tiny_project,
        registry=MemoryRegistry(),
        store=OpsStore("sqlite://"),
        engine=MemoryEngine(),
        actor="tester",
    )
    o = p.train()
    tags = p.registry.get_version("tiny", o.version).tags
    assert tags["opsloop.inference_path"] == "plain"
    assert "PolynomialFeatures" in tags["opsloop.inference_reason"]
    view = p.status_view()
    assert view.champion is not None and view.champion.inference is not None
    assert view.champion.inference.path == "plain"
