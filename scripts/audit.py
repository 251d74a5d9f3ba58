"""Audit requirements.lock with pip-audit, honestly.

    .venv/bin/python scripts/audit.py

Exit 1 when pip-audit reports a known vulnerability in a locked version. A pin pip-audit
could not audit (its per-release page not found, no network) is listed and never counted
as safe; when none could be audited the run says so loudly and goes on, unless
OPSLOOP_AUDIT=require, which makes any unaudited pin fatal. (pip-audit's own --strict
cannot tell "no service here" from a real failure, and without it an unaudited pin reads
as "No known vulnerabilities found".)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    audit = Path(sys.executable).with_name("pip-audit")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        done = subprocess.run(
            [
                str(audit),
                "--requirement",
                str(ROOT / "requirements.lock"),
                "--no-deps",
                "--disable-pip",
                "--format",
                "json",
                "--progress-spinner",
                "off",
                "--output",
                str(out),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if not out.is_file():
            print(f"pip-audit failed to run: {done.stderr.strip()[-500:]}", file=sys.stderr)
            return 1
        report = json.loads(out.read_text())
    deps = report.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    unaudited = [d for d in deps if "skip_reason" in d]
    for d in vulnerable:
        ids = ", ".join(v.get("id", "?") for v in d["vulns"])
        print(f"VULNERABLE: {d['name']}=={d.get('version')}: {ids}", file=sys.stderr)
    audited = len(deps) - len(unaudited)
    print(
        f"pip-audit: {audited} of {len(deps)} locked packages audited, {len(vulnerable)} vulnerable"
    )
    if unaudited:
        names = ", ".join(str(d["name"]) for d in unaudited[:10])
        more = f" and {len(unaudited) - 10} more" if len(unaudited) > 10 else ""
        level = "NONE AUDITED" if audited == 0 else "NOT AUDITED"
        print(
            f"WARNING: {level}: pip-audit could not audit {len(unaudited)} pin(s) "
            f"({names}{more}): no vulnerability service answered for them from this machine",
            file=sys.stderr,
        )
    if vulnerable:
        return 1
    if unaudited and os.environ.get("OPSLOOP_AUDIT") == "require":
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
