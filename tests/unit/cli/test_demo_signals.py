"""`terminated_as_exit` (cli/demo.py): a demo stopped by SIGTERM unwinds its `finally:`
blocks and so stops the child process it started (`stop_process`), as Ctrl-C does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
import subprocess, sys, time
from opsloop.cli.demo import stop_process, terminated_as_exit

with terminated_as_exit():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                             stderr=subprocess.PIPE)
    try:  # the pid inside the try: a SIGTERM right after it still stops the child
        print(child.pid, flush=True)
        time.sleep(300)
    finally:
        stop_process(child)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent, which is gone) counts as stopped
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_the_demos_child() -> None:
    demo = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert demo.stdout is not None
    child = int(demo.stdout.readline())
    assert _alive(child)
    demo.send_signal(signal.SIGTERM)
    assert demo.wait(timeout=60) == 128 + signal.SIGTERM  # SystemExit, not a traceback
    assert b"Traceback" not in (demo.stderr.read() if demo.stderr else b"")
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the demo's child outlived it"


def test_the_previous_handler_comes_back() -> None:
    from opsloop.cli.demo import terminated_as_exit

    before = signal.getsignal(signal.SIGTERM)
    with terminated_as_exit():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
