#!/usr/bin/env bash
# Set up (first run only) and run every check: ruff, the import layers (lint-imports), mypy,
# the whole pytest suite (unit, integration incl. PostgreSQL and a real server, statistical).
# PostgreSQL: uses $OPSLOOP_TEST_POSTGRES_URL (default: the local server, trust auth);
# NATS JetStream: $OPSLOOP_TEST_NATS_URL (default nats://127.0.0.1:4222). Both are started
# if they are installed but down, and a missing one fails the run (never skipped).
set -euo pipefail
# pytest runs on $OPSLOOP_TEST_WORKERS pytest-xdist workers (default 2, one per core of the CI
# machine; 0 = one process): docs/development.md, "How the test suite is split".
cd "$(dirname "$0")/.."
# The two installs are independent (two virtualenvs, much of it downloads): side by side.
bash scripts/airflow-venv.sh &  # .venv-airflow for tests/integration/test_airflow_export.py
airflow_venv=$!
bash scripts/setup.sh
wait "$airflow_venv"

export OPSLOOP_TEST_POSTGRES_URL="${OPSLOOP_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}"
export OPSLOOP_TEST_NATS_URL="${OPSLOOP_TEST_NATS_URL:-nats://127.0.0.1:4222}"
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432; trying to start it" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! .venv/bin/python -c "import psycopg,os; psycopg.connect(os.environ['OPSLOOP_TEST_POSTGRES_URL']).close()"; then
  echo "FATAL: PostgreSQL at $OPSLOOP_TEST_POSTGRES_URL is required by the test suite" >&2
  exit 1
fi

nats_up() {
  .venv/bin/python -c "import socket,urllib.parse as u,os; p=u.urlsplit(os.environ['OPSLOOP_TEST_NATS_URL']); socket.create_connection((p.hostname, p.port or 4222), timeout=5).close()" 2>/dev/null
}
if ! nats_up && [ -x /usr/sbin/nats-server ]; then
  echo "NATS is not answering; trying to start it (with JetStream)" >&2
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
  for _ in $(seq 1 20); do nats_up && break; sleep 0.5; done
fi
if ! nats_up; then
  echo "FATAL: NATS (with JetStream) at $OPSLOOP_TEST_NATS_URL is required by the test suite" >&2
  exit 1
fi

# Supply chain: the lock file matches what is installed, and no locked version has a known
# vulnerability. pip-audit asks PyPI's per-release JSON API about every pin. A pin it could
# not audit is never counted as safe: scripts/audit.py fails on any vulnerability, lists the
# pins it could not audit, and says loudly when it audited none (the python-svc machines
# reach PyPI's project pages but get 404 from its per-release JSON API and cannot resolve
# api.osv.dev). OPSLOOP_AUDIT=require makes unaudited pins fatal; OPSLOOP_AUDIT=skip skips.
.venv/bin/python scripts/lock.py --check
if [ "${OPSLOOP_AUDIT:-}" = "skip" ]; then
  echo "WARNING: pip-audit SKIPPED (OPSLOOP_AUDIT=skip): requirements.lock was not audited" >&2
else
  .venv/bin/python scripts/audit.py
fi
.venv/bin/ruff check --no-cache src tests benchmarks
.venv/bin/ruff format --check --no-cache src tests benchmarks
.venv/bin/lint-imports --no-cache  # the layers contract in pyproject.toml
.venv/bin/mypy
.venv/bin/python -m pytest -n "${OPSLOOP_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
