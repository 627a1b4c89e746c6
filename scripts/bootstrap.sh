#!/usr/bin/env bash
# Sets everything up from a clean clone, then runs one job:
#   bash scripts/bootstrap.sh demo   the end-to-end demo on the bundled synthetic dataset
#   bash scripts/bootstrap.sh test   the test suite
# The environment is .venv (created once); torch is the CPU wheel 2.13.0 unless one is importable.
set -euo pipefail
cd "$(dirname "$0")/.."
job=${1:-}
[[ $job == demo || $job == test ]] || { echo "usage: bash scripts/bootstrap.sh demo|test" >&2; exit 2; }
python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
py=.venv/bin/python
if ! "$py" -c "import torch" 2>/dev/null; then
  "$py" -m pip install --quiet --upgrade pip
  "$py" -m pip install --quiet torch==2.13.0
fi
"$py" -m pip install --quiet -e ".[dev]"
shift
case $job in
  demo) exec .venv/bin/hf-vssl demo "$@" ;;
  test)
    .venv/bin/ruff check src tests examples benchmarks
    .venv/bin/ruff format --check src tests examples benchmarks
    exec "$py" -m pytest -q -m "not slow and not gpu" "$@" ;;
esac
