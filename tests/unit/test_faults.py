"""`opsloop.faults.crash_point`: kills its own process at the named point only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from opsloop.faults import ENV, POINTS, crash_point

CALL = "from opsloop.faults import crash_point; crash_point('promote.after_commit'); print('alive')"


def _run(crash_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    if crash_at is not None:
        env[ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-c", CALL], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_named_point_dies_by_sigkill() -> None:
    proc = _run("promote.after_commit")
    assert proc.returncode == -signal.SIGKILL and proc.stdout == ""


@pytest.mark.parametrize("crash_at", [None, "", "promote.after_alias"])
def test_other_points_and_no_variable_run_on(crash_at: str | None) -> None:
    proc = _run(crash_at)
    assert proc.returncode == 0 and proc.stdout == "alive\n"


def test_an_unknown_point_is_a_programming_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "promote.after_commit")
    with pytest.raises(ValueError, match=r"unknown crash point 'promote\.after_comit'"):
        crash_point("promote.after_comit")


def test_every_point_is_described() -> None:
    assert POINTS and all(name.count(".") == 1 and text for name, text in POINTS.items())
