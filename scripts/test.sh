#!/usr/bin/env bash
# Set up (first run only) and run every check: ruff, mypy, the whole pytest suite
# (unit, integration incl. PostgreSQL and a real server, statistical).
# PostgreSQL: uses $OPSLOOP_TEST_POSTGRES_URL (default: the local server, trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

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

if ! .venv/bin/python -c "import socket,urllib.parse as u,os; p=u.urlsplit(os.environ['OPSLOOP_TEST_NATS_URL']); socket.create_connection((p.hostname, p.port or 4222), timeout=5).close()"; then
  echo "FATAL: NATS (with JetStream) at $OPSLOOP_TEST_NATS_URL is required by the test suite" >&2
  exit 1
fi

.venv/bin/ruff check --no-cache src tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
