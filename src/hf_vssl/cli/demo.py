"""`hf-vssl demo`: the whole pipeline on a synthetic dataset, on a CPU, in minutes.

Builds the synthetic UCF-101-like dataset (classes differ only in motion), pretrains a small backbone
with one method, evaluates it and the same backbone randomly initialised by linear probe and
retrieval, prints both rows side by side, saves the model, reloads it with
`AutoModel.from_pretrained` and says where the plots and the model card are.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

DESCRIPTION = """End-to-end demo: synthetic data -> pretraining -> linear probe + retrieval of the pretrained
and of a randomly initialised backbone -> side-by-side table -> save / reload -> plots and card.
It exits with status 1 if the pretrained backbone does not beat the random one."""

# The demo's run, tuned so that a 2-core CPU learns motion in minutes (the synthetic classes differ
# only in motion, every appearance factor is random per video). Pace Prediction (seed 003) with its
# step-2 pace set [1, 3, 5, 7] (table 3, its best row) on a narrow C3D (Pace Prediction's own backbone family): in
# such short runs C3D learns the pace task, an R3D of the same cost stays at chance. The baseline set
# [1, 2, 3, 4] is too fine for the synthetic motion (0.5-1.2 px per frame at 72x96): one init seed in
# three stayed at chance for all 10 epochs, [1, 3, 5, 7] learned from every seed tried (0-3).
# Changed from the seed's recipe for the tiny budget: 8-frame clips at 64 px, Adam with a cosine schedule instead of SGD
# x0.1 every 6 epochs, no colour jitter (per-frame flicker drowns the motion signal of 100 steps), no
# contrastive term (it pulls the two clips of a video together by appearance), clips start where
# they fit without wrapping to the first frame.
DEMO_METHOD = "pace"
DEMO_BACKBONE = "c3d"
DEMO_BACKBONE_CONFIG: dict[str, Any] = {"width_multiplier": 0.125}
DEMO_CLIP: dict[str, Any] = {"num_frames": 8, "crop_size": 64, "frame_size": [72, 96]}
DEMO_EPOCHS = 10
DEMO_RECIPES: dict[str, dict[str, Any]] = {
    "pace": {
        "paces": [1, 3, 5, 7],
        "batch_size": 16,
        "optimizer": "adam",
        "learning_rate": 3e-3,
        "weight_decay": 1e-4,
        "lr_schedule": "cosine",
        "lambda_ctr": 0.0,
        "color_jitter_p": 0.0,
        "start_anywhere": False,
        # the probe reads clips through the exported processor (RGB, ImageNet mean / std), so train on them
        # too instead of the release's raw BGR 0-255
        "input_format": "rgb_imagenet",
    },
}
DEMO_EVAL_STRIDE = 3  # test clips of 8 frames every 3rd frame: the motion of ~1 s of video


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="end-to-end demo on synthetic data (CPU, minutes)", description=DESCRIPTION
    )
    parser.add_argument(
        "--output-dir", default="outputs/demo", help="everything goes here (default: outputs/demo)"
    )
    parser.add_argument(
        "--method",
        default=DEMO_METHOD,
        help=f"pretext method (default: {DEMO_METHOD}, the one the demo is tuned for)",
    )
    parser.add_argument("--epochs", type=int, default=DEMO_EPOCHS, help="pretraining epochs")
    parser.add_argument("--dataset-preset", default="small", choices=("tiny", "small"), help="synthetic size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-workers", type=int, default=2, help="decoding processes (default: 2)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    output_dir = Path(args.output_dir)
    rows, paths = run_demo(
        output_dir,
        method=args.method,
        epochs=args.epochs,
        dataset_preset=args.dataset_preset,
        seed=args.seed,
        num_workers=args.num_workers,
    )
    from ..evaluation.report import markdown_table

    print("\n" + markdown_table(rows) + "\n")
    for label, path in paths.items():
        print(f"{label:>16}: {path}")
    print(f"{'wall time':>16}: {time.perf_counter() - start:.0f} s")
    pretrained, random_init = rows.values()
    if pretrained["probe top1"] <= random_init["probe top1"] or pretrained["R@1"] <= random_init["R@1"]:
        print("the pretrained backbone did NOT beat the random one on probe top-1 and R@1")
        return 1
    print("the pretrained backbone beats the random one on probe top-1 and R@1")
    return 0


def run_demo(
    output_dir: Path,
    *,
    method: str = DEMO_METHOD,
    epochs: int = DEMO_EPOCHS,
    dataset_preset: str = "small",
    seed: int = 0,
    num_workers: int = 2,
) -> tuple[dict[str, dict[str, float]], dict[str, Path]]:
    """Run the demo; returns ({row name: metrics}, {what: where}) with the pretrained row first."""
    import torch
    from transformers import AutoModel

    from ..data.sources import load_video_dataset
    from ..data.synthetic import make_synthetic_ucf
    from ..evaluation.probe import ProbeArguments, linear_probe
    from ..evaluation.report import markdown_table, update_model_card, write_report
    from ..evaluation.retrieval import evaluate_retrieval
    from ..evaluation.runner import Evaluation, default_processor, load_backbone, quiet_loading
    from ..evaluation.tsne import plot_tsne
    from ..training.loop import LOGS_DIR, TrainingArguments, make_accelerator
    from ..training.pretrain import build_method_config, pretrain

    stamp = time.perf_counter()
    data_root = make_synthetic_ucf(
        output_dir / "data" / f"synthetic-{dataset_preset}",
        preset=dataset_preset,
        seed=seed,
        num_workers=num_workers,
    )
    dataset = load_video_dataset(data_root)
    print(
        f"[demo] dataset {data_root}: {len(dataset['train'])} train / {len(dataset['test'])} test videos ({time.perf_counter() - stamp:.0f} s)"
    )

    stamp = time.perf_counter()
    config = build_method_config(
        method,
        DEMO_BACKBONE,
        backbone_overrides=DEMO_BACKBONE_CONFIG,
        overrides={**DEMO_CLIP, **DEMO_RECIPES.get(method, {"batch_size": 16}), "epochs": epochs},
    )
    training = TrainingArguments(
        output_dir=output_dir / "pretrain",
        num_workers=num_workers,
        seed=seed,
        logging_steps=5,
        save_steps=10_000,
        overwrite=True,  # the demo rebuilds everything it shows: a re-run replaces its own pretraining
    )
    trained = pretrain(config, dataset, training, dataset_name=f"synthetic-{dataset_preset}")
    print(f"[demo] pretrained {method} for {epochs} epochs ({time.perf_counter() - stamp:.0f} s)")

    stamp = time.perf_counter()
    with quiet_loading():  # the pretraining heads are reported as unused weights: expected
        reloaded = AutoModel.from_pretrained(trained.model_dir)
    same = all(
        torch.equal(a, b.cpu())
        for a, b in zip(reloaded.state_dict().values(), trained.model.backbone.state_dict().values())
    )
    print(
        f"[demo] AutoModel.from_pretrained({trained.model_dir}) -> {type(reloaded).__name__}, weights identical: {same}"
    )
    if not same:
        raise RuntimeError(f"the backbone reloaded from {trained.model_dir} differs from the trained one")

    accelerator = make_accelerator(TrainingArguments(output_dir=output_dir), trackers=False)
    random_backbone, random_name = load_backbone(None, DEMO_BACKBONE, DEMO_BACKBONE_CONFIG, seed=seed)
    # both tested on the clips of the processor saved with the model
    processor = default_processor(reloaded, str(trained.model_dir), frame_stride=DEMO_EVAL_STRIDE)
    probe_args = ProbeArguments(seed=seed)
    rows: dict[str, dict[str, float]] = {}
    paths: dict[str, Path] = {}
    eval_dir = output_dir / "eval"
    for name, backbone in ((f"pretrained ({method})", reloaded), (random_name, random_backbone)):
        evaluation = Evaluation(
            backbone=backbone,
            name=name,
            dataset=dataset,
            processor=processor,
            accelerator=accelerator,
            cache_dir=eval_dir / "feature_cache",
            num_workers=num_workers,
        )
        train, test = evaluation.features("train"), evaluation.features("test")
        probe, _ = linear_probe(backbone, train, test, evaluation.class_names, probe_args)
        recall = evaluate_retrieval(train, test, ks=(1, 5, 10))
        rows[name] = {"probe top1": probe["top1"], "probe top5": probe["top5"], **recall}
        slug = "pretrained" if name.startswith("pretrained") else "random"
        paths[f"t-SNE ({slug})"] = plot_tsne(
            test.video_means().numpy(), test.labels.numpy(), evaluation.class_names, eval_dir / f"tsne_{slug}.png",
            title=f"t-SNE of test features: {name}", seed=seed,
        )  # fmt: skip
    print(f"[demo] evaluated both backbones ({time.perf_counter() - stamp:.0f} s)")

    json_path, md_path = write_report(
        rows, eval_dir, "demo", dataset=str(data_root), processor=processor.to_dict()
    )
    card = update_model_card(
        trained.card_path,
        f"Demo: linear probe and retrieval on synthetic-{dataset_preset}",
        markdown_table(rows),
    )
    paths.update(
        {"model": trained.model_dir, "model card": card, "results": json_path, "results table": md_path}
    )
    paths["logs"] = training.output_dir / LOGS_DIR
    return rows, paths
