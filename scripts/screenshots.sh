#!/usr/bin/env bash
# Screenshots of every dashboard page under docs/screenshots/: runs `opsloop demo` into a
# temporary folder (or uses $1, a project made by it), serves `opsloop ui` on it and drives
# Debian's Chromium with Playwright (scripts/screenshots.py).
# PY=/path/to/python uses that interpreter (opsloop and Playwright installed) instead of
# setting up .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PY:-}" ]; then
  bash scripts/setup.sh
  PY=.venv/bin/python
fi
project="${1:-}"
if [ -z "$project" ]; then
  project="$(mktemp -d)/demo"
  "$PY" -m opsloop demo --project "$project"
fi
port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
token="screenshots-$RANDOM$RANDOM"
OPSLOOP_ADMIN_TOKEN="$token" "$PY" -m opsloop ui -p "$project" --port "$port" &
ui=$!
trap 'kill "$ui" 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -fs -o /dev/null "http://127.0.0.1:$port/ui/login" && break
  sleep 0.5
done
"$PY" scripts/screenshots.py "http://127.0.0.1:$port" "$token" docs/screenshots
echo "Saved docs/screenshots/*.png"
