#!/usr/bin/env bash
# Creates (once) the virtualenv in which benchmarks/drift_vs_evidently.py runs Evidently.
# Evidently 0.7.23 does not import with pandas 3 (opsloop's), so it gets its own
# environment with pandas < 3. Idempotent: an existing, complete environment is reused.
#
#   benchmarks/evidently-venv.sh            # prints the environment's python
#   OPSLOOP_BENCH_CACHE=/somewhere benchmarks/evidently-venv.sh
set -euo pipefail

VERSION=0.7.23
ROOT="${OPSLOOP_BENCH_CACHE:-$HOME/.cache/opsloop-bench}/evidently-$VERSION"
PYTHON="${PYTHON:-python3}"

if [ -f "$ROOT/.complete" ] && "$ROOT/bin/python" -c "import evidently" 2>/dev/null; then
    echo "$ROOT/bin/python"
    exit 0
fi
mkdir -p "$(dirname "$ROOT")"
rm -rf "$ROOT"
"$PYTHON" -m venv "$ROOT" >&2
"$ROOT/bin/python" -m pip install --quiet --upgrade pip >&2
"$ROOT/bin/python" -m pip install --quiet "evidently==$VERSION" "pandas<3" pyarrow >&2
"$ROOT/bin/python" -c "import evidently, pandas; print('evidently', evidently.__version__, 'pandas', pandas.__version__)" >&2
touch "$ROOT/.complete"
echo "$ROOT/bin/python"
