"""Training-step cost of each method side by side: augmentation, forward + backward, and the clips the backbone
encodes per video, on one real batch of the synthetic set with each method's demo recipe (hub/recipes.py: C3D width
1/8, 8x64x64 clips).

The methods are timed in turns (round-robin over --steps rounds, median per method), so that a machine whose
load changes during the run slows them alike. Time per encoded clip tells a method that does more work per
video (SDC encodes six clips of each: v1, v2, s1, s2, d1, d2) from one that does its work slowly.

    python benchmarks/bench_step.py                         # pace, mfo, sdc, vicc; batch 8; 3 rounds
    python benchmarks/bench_step.py --methods mfo sdc --batch-size 16 --steps 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

from hf_vssl.data.loaders import load_ucf101
from hf_vssl.data.synthetic import make_synthetic_ucf
from hf_vssl.hub.recipes import DEMO_BACKBONE, DEMO_BACKBONE_CONFIG, DEMO_CLIP, DEMO_RECIPES
from hf_vssl.methods import build_method_config
from hf_vssl.methods.registry import get_method
from hf_vssl.training.pretrain import build_train_dataset


class Step:
    """One method's model, augmentation and fixed batch; `run()` times one training step."""

    def __init__(self, method: str, split, batch_size: int):
        recipe = DEMO_RECIPES[method].config  # the demo's network, clip and recipe
        config = build_method_config(
            method,
            DEMO_BACKBONE,
            backbone_overrides=DEMO_BACKBONE_CONFIG,
            overrides={**DEMO_CLIP, **recipe, "batch_size": batch_size},
        )
        spec = get_method(method)
        samples = build_train_dataset(spec, config, split, seed=0)
        self.batch = default_collate([samples[i] for i in range(batch_size)])
        self.augment, self.model = spec.build_augment(config), spec.model_class(config).train()
        self.batch_size, self.encoded = batch_size, 0
        self.model.backbone.register_forward_hook(self._count)
        self.times: dict[str, list[float]] = {"augment": [], "forward + backward": []}

    def _count(self, module, inputs, output) -> None:
        self.encoded += inputs[0].shape[0]

    def run(self) -> None:
        start = time.perf_counter()
        with torch.no_grad():
            inputs = self.augment(self.batch)
        middle = time.perf_counter()
        self.encoded = 0
        self.model(**inputs).loss.backward()
        self.model.zero_grad(set_to_none=True)
        end = time.perf_counter()
        self.times["augment"].append(middle - start)
        self.times["forward + backward"].append(end - middle)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--methods", nargs="+", default=["pace", "mfo", "sdc", "vicc"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="timed rounds (after one warm-up round)")
    parser.add_argument("--root", type=Path, default=Path("outputs/bench_step/synthetic-small"))
    args = parser.parse_args()
    split = load_ucf101(make_synthetic_ucf(args.root, "small", num_workers=2), num_workers=1)["train"]
    torch.manual_seed(0)
    steps = {method: Step(method, split, args.batch_size) for method in args.methods}
    for step in steps.values():  # warm-up
        step.run()
        step.times = {name: [] for name in step.times}
    for _ in range(args.steps):
        for step in steps.values():
            step.run()
    print(
        f"batch {args.batch_size}, C3D width 1/8, 8x64x64 clips, median of {args.steps} steps, {torch.get_num_threads()} threads"
    )
    print("| method | clips encoded / video | augment (s) | forward + backward (s) | per encoded clip (ms) |")
    print("|---|---|---|---|---|")
    for method, step in steps.items():
        augment, compute = (statistics.median(values) for values in step.times.values())
        per_clip = 1000 * compute / step.encoded
        print(
            f"| {method} | {step.encoded / args.batch_size:g} | {augment:.2f} | {compute:.2f} | {per_clip:.0f} |"
        )


if __name__ == "__main__":
    main()
