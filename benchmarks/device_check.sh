#!/usr/bin/env bash
# The device check (benchmarks/device_check.py: versions, torchvision parity, throughput, bench_train.py).
# On the lent GPU machine the packages it lacks (datasets, av, evaluate, dill, multiprocess) travel as
# wheels in .whl/ (how to download them: device_check.py's docstring); they are installed into /tmp/site.
#   bash benchmarks/device_check.sh                 # the H200 run (~5 minutes)
#   bash benchmarks/device_check.sh --quick --cpu   # the CPU smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
# TQDM_DISABLE: no progress bars, so the returned output tail keeps the tables
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 TQDM_DISABLE=1
exec "$PYTHON" benchmarks/device_check.py "$@"
