#!/usr/bin/env bash
# Create .venv-airflow with Apache Airflow (pinned), separate from the project's .venv:
# Airflow's dependency pins must not constrain opsloop's. Idempotent (stamp file); used by
# test.sh for tests/integration/test_airflow_export.py. Airflow's constraint files live on
# a host this machine cannot reach, so the pin of apache-airflow itself is what we rely on.
set -euo pipefail
cd "$(dirname "$0")/.."
AIRFLOW_VERSION=3.3.2
PY="${PYTHON:-python3}"
venv=.venv-airflow
stamp="$venv/.airflow-$AIRFLOW_VERSION-installed"
if [ -f "$stamp" ]; then
  exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
  "$PY" -m venv "$venv"
fi
# (this machine's pip config names local wheel folders that may not exist: hide that noise)
"$venv/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
"$venv/bin/python" -m pip install --quiet "apache-airflow==$AIRFLOW_VERSION" 2>&1 \
  | grep -v "^WARNING: Location" || true
"$venv/bin/python" -c "import airflow.sdk" # fail here if the install did
touch "$stamp"
