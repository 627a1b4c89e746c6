#!/usr/bin/env bash
# Does the wheel ship what a run needs? Builds the wheel, installs it (not the source tree) into a fresh
# venv, and runs a tiny pretrain -> probe -> push there, from a folder outside the checkout, so every file a
# run reads comes from the installed package: the card template (pretrain and probe write cards), the local
# `evaluate` metric modules (loaded by path) and the remote-code sources (`push` flattens them next to
# config.json; the staged folder then loads with `trust_remote_code=True` while hf_vssl cannot be imported).
#
#   bash scripts/check_wheel.sh
#
# The push stages the repository into a local folder (`hf-vssl push --local-dir`): what an upload would
# commit, without a Hub. torch is TORCH_SPEC (default torch==2.13.0, the CPU wheel); VENV=DIR keeps the
# environment in DIR (default: a new temporary folder, removed at the end with everything the run wrote).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
torch_spec=${TORCH_SPEC:-torch==2.13.0}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
venv=${VENV:-$scratch/venv}
start=$SECONDS
"$python" -m venv "$venv"
py=$venv/bin/python
hf=$venv/bin/hf-vssl
"$py" -m pip install --quiet --no-compile --upgrade pip
"$py" -m pip install --quiet --no-compile "$torch_spec"
# built from a copy of the files git tracks or would track: no stale build/ folder of the checkout can leak
# a file into the wheel
mkdir "$scratch/source"
git -C "$repo" ls-files -z --cached --others --exclude-standard |
  tar -C "$repo" --null -T - -cf - | tar -xf - -C "$scratch/source"
"$py" -m pip wheel --quiet --no-deps --wheel-dir "$scratch/dist" "$scratch/source"
wheel=$(ls "$scratch"/dist/hf_vssl-*.whl)
"$py" -m pip install --quiet --no-compile "$wheel" "$torch_spec"
echo "installed $(basename "$wheel") in $((SECONDS - start)) s"

cd "$scratch"  # nothing of the checkout on the path from here on
"$py" - "$repo" <<'EOF'
import sys
from pathlib import Path

import hf_vssl

package = Path(hf_vssl.__file__).resolve()
if package.is_relative_to(Path(sys.argv[1])):
    sys.exit(f"hf_vssl was imported from the checkout ({package}), not from the wheel")
print(f"hf_vssl {hf_vssl.__version__} from {package.parent}")
EOF
quiet=(--num-workers 0 --no-progress-bar)
"$hf" synth --preset tiny --out data
"$hf" pretrain --method pace --backbone c3d --backbone-config width_multiplier=0.125 \
  --set num_frames=8 --set crop_size=32 --set frame_size=[40,50] --set batch_size=4 --epochs 1 --max-steps 2 \
  --dataset data --output-dir run "${quiet[@]}"
"$hf" probe --model run/model --dataset data --output-dir probe --num-clips 2 --probe-epochs 2 "${quiet[@]}"
"$hf" push run/model --repo-id local/check-wheel --local-dir staged
"$py" - <<'EOF'
import json
import sys
from pathlib import Path

import numpy as np

from hf_vssl.evaluation.metrics import METRIC_NAMES, load_metric

for name in METRIC_NAMES:  # the local evaluate modules, from the installed package
    load_metric(name, keep_in_memory=True)
accuracy = load_metric("video_accuracy", keep_in_memory=True)
assert accuracy.compute(predictions=np.eye(2, dtype=np.float32), references=[0, 1], ks=(1,)) == {"top1": 1.0}
for card in ("run/model/README.md", "probe/linear_probe/README.md", "staged/README.md"):
    text = Path(card).read_text()
    assert text.startswith("---\n") and "hf-vssl" in text, f"{card} is not a rendered model card"
(probe,) = json.loads(Path("probe/probe.json").read_text())["results"].values()
assert 0.0 <= probe["top1"] <= 1.0, probe
print(f"metric modules {', '.join(METRIC_NAMES)}; cards; probe results: ok", file=sys.stderr)
EOF
"$py" - <<'EOF'
import sys

sys.modules["hf_vssl"] = None  # the staged repository must load without the package
from transformers import AutoModel

model = AutoModel.from_pretrained("staged", trust_remote_code=True)
print(f"staged repository loads without hf_vssl: {type(model).__module__}.{type(model).__name__}")
EOF
echo "check_wheel: passed in $((SECONDS - start)) s"
