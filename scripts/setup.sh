#!/usr/bin/env bash
# Create .venv and install opsloop with its dev tools and the Spark engine (opsloop[spark];
# Spark's tests run for real on the machine's Java 17), at the exact versions of
# requirements.lock (pip constraints: a fresh install is reproducible; scripts/lock.py
# rewrites it). Idempotent; used by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.opsloop-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  # (this machine's pip config names local wheel folders that may not exist: hide that noise)
  .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install --quiet -c requirements.lock -e ".[dev,spark]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import opsloop, mlflow, duckdb, fastapi, pyspark" # fail here if the install did
  touch "$stamp"
fi
# Chromium for the dashboard's browser tests (tests/integration/test_ui_browser.py): Debian's
# package, driven by Playwright (`playwright install` cannot download a browser here).
if ! command -v chromium >/dev/null && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
  else
    sudo apt-get install -y -q chromium >/dev/null
  fi
fi
# Java 17 for the Spark engine's tests (tests/integration/spark/, Spark local[2]): Debian's JRE.
if ! command -v java >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -q openjdk-17-jre-headless >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q openjdk-17-jre-headless >/dev/null; }
  else
    sudo apt-get install -y -q openjdk-17-jre-headless >/dev/null
  fi
fi
