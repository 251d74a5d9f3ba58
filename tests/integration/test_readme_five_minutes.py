"""The README's "Five minutes to a served, monitored model" and "A recommender, end to end"
blocks, run as written: parsed from README.md between their markers and run by bash in a
new folder, with this environment's bin on PATH (the block's `source .venv/bin/activate`
activates it).

The only change is the port: the server (the web app) listens on a free port instead of
8000, so the test cannot collide with another server on this machine."""

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


def readme_block(marker: str = "five-minutes") -> str:
    text = README.read_text()
    section = text.split(f"<!-- {marker}:start", 1)[1].split(f"<!-- {marker}:end -->", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, f"no ```bash block between the {marker} markers in README.md"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_block(tmp_path: Path, script: str) -> str:
    """Run `script` as the README's reader would; its stdout (the test fails on an error)."""
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
    return out


def test_the_readme_block_runs_as_written(tmp_path: Path) -> None:
    block = readme_block()
    assert "opsloop serve &" in block and "localhost:8000" in block
    port = free_port()
    script = block.replace("opsloop serve &", f"opsloop serve --port {port} &").replace(
        "localhost:8000", f"localhost:{port}"
    )
    out = run_block(tmp_path, script)
    assert '"predictions"' in out  # the curl got an answer
    assert "Added 1 labels from labels.parquet" in out
    assert "labels_added" in out  # `opsloop events` lists the labels
    with socket.socket() as s:  # `kill $!` stopped the server
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_the_readme_recommender_block_runs_as_written(tmp_path: Path) -> None:
    block = readme_block("recommender")
    assert "--port 8000 &" in block and "localhost:8000" in block
    port = free_port()
    out = run_block(tmp_path, block.replace("8000", str(port)))
    assert "Promoted version 1 to champion" in out
    assert '"user":"u000042","fallback":false' in out  # the web app answered from the run
    assert '"stored":true' in out  # the visit was stored as a label
    assert "Recommendations (k = 10)" in out  # the monitor judged the recommender's checks
    with socket.socket() as s:  # `kill $!` stopped the web app
        assert s.connect_ex(("127.0.0.1", port)) != 0
