"""The README's "Five minutes to a served, monitored model" block, run as written: parsed
from README.md between the `five-minutes` markers and run by bash in a new folder, with
this environment's bin on PATH (the block's `source .venv/bin/activate` activates it).

The only change is the port: the server listens on a free port instead of 8000, so the
test cannot collide with another server on this machine."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"


def five_minute_block() -> str:
    text = README.read_text()
    section = text.split("<!-- five-minutes:start", 1)[1].split("<!-- five-minutes:end -->", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "no ```bash block between the five-minutes markers in README.md"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_readme_block_runs_as_written(tmp_path: Path) -> None:
    block = five_minute_block()
    assert "opsloop serve &" in block and "localhost:8000" in block
    port = free_port()
    script = block.replace("opsloop serve &", f"opsloop serve --port {port} &").replace(
        "localhost:8000", f"localhost:{port}"
    )
    activate = tmp_path / ".venv" / "bin" / "activate"
    activate.parent.mkdir(parents=True)
    activate.write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
    # stop at the first failing command; never leave the server behind
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, out[-4000:] + err[-4000:]
    assert '"predictions"' in out  # the curl got an answer
    assert "Added 1 labels from labels.parquet" in out
    assert "labels_added" in out  # `opsloop events` lists the labels
    with socket.socket() as s:  # `kill $!` stopped the server
        assert s.connect_ex(("127.0.0.1", port)) != 0
