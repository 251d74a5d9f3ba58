"""`opsloop.deploy` is the stable import path of the deployment state machine, and its
modules import one another in one direction only."""

from __future__ import annotations

import ast
from pathlib import Path

import opsloop.deploy

PUBLIC = {
    "approve",
    "reject",
    "promote",
    "rollback",
    "deploy",
    "advance",
    "abort",
    "promote_now",
    "status",
    "expire_pending",
    "record_approval",
    "RolloutController",
    "Step",
}


def test_the_package_exports_the_deployment_api() -> None:
    assert set(opsloop.deploy.__all__) >= PUBLIC
    for name in PUBLIC:
        assert getattr(opsloop.deploy, name).__module__.startswith("opsloop.deploy.")


def test_deploy_modules_import_each_other_without_a_cycle() -> None:
    folder = Path(opsloop.deploy.__file__).parent
    edges: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        if path.stem == "__init__":
            continue
        found = edges.setdefault(path.stem, set())
        for node in ast.walk(ast.parse(path.read_text())):  # function-level imports count
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "opsloop.deploy."
            ):
                found.add((node.module or "").rsplit(".", 1)[1])
    assert edges["approvals"] == {"machine"} and edges["steps"] == {"analysis", "machine"}

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
            for nxt in edges.get(start, ())
        )

    assert not [m for m in edges if reaches(m, m)]
