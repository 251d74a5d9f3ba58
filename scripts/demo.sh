#!/usr/bin/env bash
# Set up (first run only) and run the whole loop: `opsloop demo` on the embedded default.
# Extra arguments go to `opsloop demo` (e.g. --project ./my-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/opsloop demo "$@"
