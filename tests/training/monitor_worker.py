"""Worker of the two-process monitor test, run with `accelerate launch --num_processes 2`: the tiny
method's reference kNN pass (before the first step: the same seeded weights in both launches)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import tiny_method

from hf_vssl.data.sources import load_video_dataset
from hf_vssl.methods import build_method_config
from hf_vssl.training.loop import TrainingArguments
from hf_vssl.training.pretrain import pretrain


def run(root: str, output_dir: Path) -> None:
    spec = tiny_method.register()
    config = build_method_config(spec.name, overrides={"epochs": 1, "batch_size": 8})
    args = TrainingArguments(
        output_dir=output_dir,
        num_workers=0,
        max_steps=1,
        progress_bar=False,
        report_to="none",
        monitor_every=1,
    )
    pretrain(config, load_video_dataset(root), args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--output-dir", required=True, type=Path)
    options = parser.parse_args()
    run(options.root, options.output_dir)
