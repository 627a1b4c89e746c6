"""Worker of the two-process test, run with `accelerate launch --num_processes 2 --cpu`: a few steps
of the tiny method, then a feature extraction; every rank saves what it ended with."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

import tiny_method

from hf_vssl.data.processor import VsslVideoProcessor
from hf_vssl.data.sources import load_video_dataset
from hf_vssl.evaluation.features import cached_backbone_features
from hf_vssl.methods import build_method_config
from hf_vssl.optim.recipe import OptimizerRecipe
from hf_vssl.training.loop import TrainingArguments, fit, make_accelerator
from hf_vssl.training.pretrain import build_train_dataset


def run(root: str, output_dir: Path, steps: int, global_batch: int) -> None:
    spec = tiny_method.register()
    dataset = load_video_dataset(root)
    config = build_method_config(spec.name, overrides={"epochs": 1, "batch_size": global_batch})
    torch.manual_seed(0)
    model = spec.model_class(config)
    args = TrainingArguments(
        output_dir=output_dir,
        num_workers=0,
        max_steps=steps,
        logging_steps=1,
        save_steps=1000,
        progress_bar=False,
    )
    accelerator = make_accelerator(args)
    train = build_train_dataset(spec, config, dataset["train"], seed=0)
    result = fit(
        model,
        train,
        spec.build_augment(config),
        OptimizerRecipe.from_config(config),
        args,
        accelerator=accelerator,
    )
    rank = accelerator.process_index
    features = cached_backbone_features(
        model.backbone, dataset["test"], VsslVideoProcessor(num_frames=4, crop_size=32, frame_size=[40, 50], num_clips=2),
        accelerator=accelerator, cache_dir=None, num_workers=0,
    )  # fmt: skip
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(
        {"state": state, "features": features.outputs, "video_index": features.video_index},
        output_dir / f"rank{rank}.pt",
    )
    if accelerator.is_main_process:
        (output_dir / "losses.json").write_text(json.dumps([h["loss"] for h in result.history]))
        (output_dir / "world.json").write_text(json.dumps({"num_processes": accelerator.num_processes}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--global-batch", type=int, default=8)
    options = parser.parse_args()
    run(options.root, options.output_dir, options.steps, options.global_batch)
