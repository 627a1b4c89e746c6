#!/usr/bin/env bash
# Are the floors in pyproject.toml true? Installs every declared minimum (each `name>=X` of the dependencies
# and of the dev extra as `name==X`) into a fresh venv, installs hf-vssl itself without dependencies, checks
# the set is consistent (`pip check`) and runs the fast tests there against it.
#
#   bash scripts/check_min_versions.sh                     # the fast suite (-m "not slow and not gpu")
#   bash scripts/check_min_versions.sh tests/evaluation    # pytest arguments replace the default selection
#
# torch is the exception: it is installed as TORCH_SPEC (default torch==2.13.0, the CPU wheel this project's
# machines carry), not as its floor. PyPI's torch 2.6 is the CUDA build (a 767 MB wheel plus several GB of
# nvidia-* packages) and no CPU wheel of it is on the configured indexes, so the torch floor is not exercised
# here; run with TORCH_SPEC="torch==2.6.0" on a machine that can install it.
# VENV=DIR keeps the environment in DIR (default: a new temporary folder, removed at the end), so a
# second run installs only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
torch_spec=${TORCH_SPEC:-torch==2.13.0}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
venv=${VENV:-$scratch/venv}
start=$SECONDS
"$python" -m venv "$venv"
py=$venv/bin/python
# the floors, read from pyproject.toml (one place), torch left out
mapfile -t floors < <("$py" - <<'EOF'
import re
import tomllib

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
    name, op, version = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(>=|==)\s*([^,;\s]+)", requirement).groups()
    if name != "torch":
        print(f"{name}=={version}")
EOF
)
echo "floors: ${floors[*]}; torch: $torch_spec"
"$py" -m pip install --quiet --no-compile --upgrade pip
"$py" -m pip install --quiet --no-compile "$torch_spec"
"$py" -m pip install --quiet --no-compile "$torch_spec" "${floors[@]}"
# hf-vssl from a copy of the files git tracks or would track (the build leaves nothing in the checkout),
# editable as scripts/bootstrap.sh installs it (a test hides hf_vssl by dropping its path entry)
mkdir "$scratch/source"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$scratch/source"
"$py" -m pip install --quiet --no-compile --no-deps -e "$scratch/source"
"$py" -m pip check
"$py" - torch "${floors[@]%%==*}" <<'EOF'
import sys
from importlib.metadata import version

print("installed:", ", ".join(f"{name}=={version(name)}" for name in sys.argv[1:]))
EOF
echo "environment ready in $((SECONDS - start)) s"
if (($# == 0)); then
  set -- -m "not slow and not gpu"
fi
# the tests import hf_vssl from the venv (the copy installed above), not from src/
"$py" -m pytest -q -p no:cacheprovider "$@"
echo "check_min_versions: passed in $((SECONDS - start)) s"
