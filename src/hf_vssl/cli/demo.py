"""`hf-vssl demo`: the whole pipeline on a synthetic dataset, on a CPU, in minutes, for any of the four methods.

Builds the two-label synthetic UCF-101-like dataset (every video has a motion class, told apart only over
time, and an appearance family, told apart by one frame, drawn independently), pretrains a small backbone
with one method and its demo recipe, evaluates it and the same backbone randomly initialised by linear probe
and retrieval on both labels, prints the rows side by side, saves the model, reloads it with
`AutoModel.from_pretrained` and says where the plots and the model card are.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DESCRIPTION = """End-to-end demo: synthetic data -> pretraining -> linear probe + retrieval of the pretrained
and of a randomly initialised backbone on the motion and the appearance label -> side-by-side table -> save /
reload -> plots and card. It exits with status 1 if the pretrained backbone does not beat the random one on
the label its method is for (motion: Pace, MFO, ViCC-Flow; appearance: ViCC-RGB; both: SDC): as good on probe
top-1 and R@1, and better on one."""


@dataclass(frozen=True)
class DemoRecipe:
    """One method's demo run: what it should learn and how it departs from its seed's recipe for the budget."""

    method: str  # the registered method trained
    learns: tuple[str, ...]  # the labels (AXES) the demo must beat the random init on
    config: dict[str, Any] = field(default_factory=dict)  # method config overrides (beside DEMO_CLIP)
    epochs: int = 10

    @property
    def stream(self) -> str:
        """The input stream trained and tested: "flow" reads the flow videos of `hf-vssl extract-flow`."""
        return self.config.get("stream", "rgb")


DEMO_METHOD = "pace"
DEMO_DATASET = "two-label-small"
# label -> dataset column of the two-label synthetic set (`label` is the motion class, as UCF-101's folders)
AXES = {"motion": "label", "appearance": "appearance_label"}
# Every method on the same backbone and clip, tuned so that a 2-core CPU learns in minutes: a narrow C3D (Pace
# Prediction's own backbone family; in such short runs C3D learns the pace task where an R3D of the same cost
# stays at chance), 8-frame clips cropped to 64 px from 72x96 frames (the seeds: 16-32 frames, 112-128 px).
DEMO_BACKBONE = "c3d"
DEMO_BACKBONE_CONFIG: dict[str, Any] = {"width_multiplier": 0.125}
DEMO_CLIP: dict[str, Any] = {"num_frames": 8, "crop_size": 64, "frame_size": [72, 96]}
# Departures from each seed's recipe for ~100-200 steps of batch 16 (the seeds train 18-300 epochs of UCF-101
# or Kinetics-400 at batch 30-256): Adam with a cosine schedule (every seed's own step or LARS schedule has
# no step to act within such a run), one pass over the videos per epoch (`epoch_repeats`), schedules that
# start inside the run, and queues / prototype counts sized for 240 training videos.
# ViCC stage 1 (seed 004): Adam 1e-3 instead of LARS 0.6 at batch 192, prototypes trained from epoch 1 (seed
# 004 §2.1: frozen for 100 epochs), no queue (from epoch 150), 50 prototypes for 240 videos (released 300)
VICC_DEMO: dict[str, Any] = {
    "batch_size": 16,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "weight_decay": 1e-5,
    "final_lr": 0.0,
    "num_prototypes": 50,
    "freeze_prototypes_epochs": 1,
    "queue_size": 0,
}
DEMO_RECIPES: dict[str, DemoRecipe] = {
    # Pace Prediction (seed 003) with its step-2 pace set [1, 3, 5, 7] (table 3, its best row): the baseline set
    # [1, 2, 3, 4] is too fine for the synthetic motion (0.5-1.2 px per frame at 72x96): one init seed in three
    # stayed at chance for all 10 epochs, [1, 3, 5, 7] learned from every seed tried (0-3). No colour jitter
    # (per-frame flicker drowns the motion signal of 150 steps), no contrastive term (it pulls the two clips of
    # a video together by appearance), clips start where they fit without wrapping to the first frame.
    "pace": DemoRecipe(
        method="pace",
        learns=("motion",),
        config={
            "paces": [1, 3, 5, 7],
            "batch_size": 16,
            "epoch_repeats": 1,  # the release repeats its video list 10x per epoch (datasets/ucf101.py)
            "optimizer": "adam",
            "learning_rate": 3e-3,
            "weight_decay": 1e-4,
            "lr_schedule": "cosine",
            "lambda_ctr": 0.0,
            "color_jitter_p": 0.0,
            "start_anywhere": False,
            # the probe reads clips through the exported processor (RGB, ImageNet mean / std), so train on
            # them too instead of the release's raw BGR 0-255
            "input_format": "rgb_imagenet",
        },
    ),
    # MFO (seed 001): the graph stage starts at epoch 3 of 10 (released --split 20 of 100 epochs, 50 of 300 on
    # UCF-101), 50 prototypes for 240 videos (METHODS.md: 200 for UCF-101's 9.5k), no queue (released: from
    # epoch 10 on, never reached here)
    "mfo": DemoRecipe(
        method="mfo",
        learns=("motion",),
        config={
            "batch_size": 16,
            # seed 001: 1e-3 for 100-300 epochs; 3e-3 as the Pace demo (gave MFO more appearance, no motion either
            # way: L_high stays at chance, ln(2B - 1), through the 150 steps)
            "learning_rate": 3e-3,
            "lr_schedule": "cosine",
            # the released train.py: every term but L_mul before the graph stage (seed 001: L_high only), so the
            # reversed / shuffled negatives of L_aug, MFO's motion signal, act from the first step
            "stage_one_high_only": False,
            "num_prototypes": 50,
            "queue_size": 0,
            "graph_start_epoch": 3,
            # seed 001 table 3's row without L_ret: C3D's conv5 keeps one time step of an 8-frame clip, and
            # timestamp retrieval needs two or more
            "use_ret_loss": False,
        },
    ),
    # SDC (seed 002): 20 + 20 concepts for 240 videos (tables 2-3: 50 + 50 for UCF-101) matched top-2, a queue
    # of 8 batches (released: 1024 scores), local matching from epoch 2 (seed 002 §1: 5; the release: 10); 5
    # epochs, as SDC encodes 6 clips per video (v1, v2, s1, s2, d1, d2) where Pace and MFO encode 2
    "sdc": DemoRecipe(
        method="sdc",
        learns=("motion", "appearance"),
        config={
            "batch_size": 16,
            "lr_schedule": "cosine",
            "num_static_concepts": 20,
            "num_dynamic_concepts": 20,
            "queue_size": 128,
            "local_start_epoch": 2,
            "top_k": 2,  # seed 002 table 3: the top 10% of the concepts (5 of 50)
        },
        epochs=5,
    ),
    "vicc": DemoRecipe(method="vicc", learns=("appearance",), config=VICC_DEMO),
    # ViCC-Flow stage 1 (seed 004): the same recipe on Farneback flow videos (DEMO_FLOW_METHOD), without the
    # released colour jitter / grey / blur of the flow images: hue and grey shift the (u, v) values that
    # spell out the direction of motion
    "vicc-flow": DemoRecipe(
        method="vicc",
        learns=("motion",),
        config={**VICC_DEMO, "stream": "flow", "flow_colour_augment": False},
    ),
}
# ViCC's released flow is TV-L1 (`hf-vssl extract-flow` default); Farneback takes seconds per video on a CPU
DEMO_FLOW_METHOD = "farneback"
DEMO_EVAL_STRIDE = 3  # test clips of 8 frames every 3rd frame: the motion of ~1 s of video
DEMO_METRICS = ("probe top1", "R@1", "R@5")  # the columns of each label in the table


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
        choices=list(DEMO_RECIPES),
        help=f"pretext method, each with its own demo recipe (default: {DEMO_METHOD})",
    )
    parser.add_argument("--epochs", type=int, help="pretraining epochs (default: the method's demo recipe)")
    parser.add_argument(
        "--dataset-preset",
        default=DEMO_DATASET,
        choices=("tiny", "small", "two-label-tiny", "two-label-small"),
        help=f"synthetic size (default: {DEMO_DATASET}; tiny / small have the motion label only)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="initialisation and training seed (the dataset is always seed 0's)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where the synthetic dataset is built or reused (default: OUTPUT_DIR/data)",
    )
    parser.add_argument("--num-workers", type=int, default=2, help="decoding processes (default: 2)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="feature cache (default: OUTPUT_DIR/eval/feature_cache; share it to reuse the random init's)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    rows, paths = run_demo(
        Path(args.output_dir),
        method=args.method,
        epochs=args.epochs,
        dataset_preset=args.dataset_preset,
        seed=args.seed,
        num_workers=args.num_workers,
        cache_dir=args.cache_dir,
        data_dir=args.data_dir,
    )
    from ..evaluation.report import markdown_table

    print("\n" + markdown_table(rows) + "\n")
    for label, path in paths.items():
        print(f"{label:>16}: {path}")
    print(f"{'wall time':>16}: {time.perf_counter() - start:.0f} s")
    return verdict(args.method, rows)


def verdict(method: str, rows: dict[str, dict[str, float]]) -> int:
    """Print whether the pretrained row (first) beats the random one (second) on each label `method` is for;
    the exit status: 0 if it does on all of them."""
    pretrained, random_init = rows.values()
    learns = DEMO_RECIPES[method].learns
    tested = [axis for axis in learns if f"{axis} R@1" in pretrained]
    if not tested:
        print(
            f"{method} is for the {' and '.join(learns)} label, which this dataset lacks (use a two-label-* preset)"
        )
        return 1
    beaten = {axis: beats(pretrained, random_init, axis) for axis in tested}
    for axis, won in beaten.items():
        print(
            f"on {axis} ({method} is for it), the pretrained backbone {'beats' if won else 'does NOT beat'} the "
            "random one (as good on probe top-1 and R@1, better on one)"
        )
    return 0 if all(beaten.values()) else 1


def beats(pretrained: dict[str, float], random_init: dict[str, float], axis: str) -> bool:
    """At least as good on probe top-1 and R@1 of `axis`, better on one (a random init at 100% is only tied)."""
    pairs = [(pretrained[f"{axis} {m}"], random_init[f"{axis} {m}"]) for m in ("probe top1", "R@1")]
    return all(p >= r for p, r in pairs) and any(p > r for p, r in pairs)


def run_demo(
    output_dir: Path,
    *,
    method: str = DEMO_METHOD,
    epochs: int | None = None,
    dataset_preset: str = DEMO_DATASET,
    seed: int = 0,
    num_workers: int = 2,
    cache_dir: Path | None = None,
    data_dir: Path | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, Path]]:
    """Run the demo; returns ({row name: metrics}, {what: where}) with the pretrained row first."""
    import torch
    from transformers import AutoModel

    from ..data.sources import class_names, load_video_dataset
    from ..data.synthetic import make_synthetic_ucf
    from ..evaluation.probe import ProbeArguments, linear_probe
    from ..evaluation.report import markdown_table, update_model_card, write_report
    from ..evaluation.retrieval import evaluate_retrieval
    from ..evaluation.runner import Evaluation, default_processor, load_backbone, quiet_loading
    from ..evaluation.tsne import plot_tsne
    from ..methods import build_method_config
    from ..training.loop import LOGS_DIR, TrainingArguments, make_accelerator
    from ..training.pretrain import pretrain

    recipe = DEMO_RECIPES[method]
    epochs = recipe.epochs if epochs is None else epochs
    stamp = time.perf_counter()
    data_root = (
        make_synthetic_ucf(  # one fixed dataset, as a benchmark's: seeds vary the init and the training
            (data_dir or output_dir / "data") / f"synthetic-{dataset_preset}",
            preset=dataset_preset,
            num_workers=num_workers,
        )
    )
    dataset = load_video_dataset(data_root)
    if recipe.stream == "flow":
        dataset = with_flow(data_root, dataset, num_workers)
    axes = {axis: column for axis, column in AXES.items() if column in dataset["train"].column_names}
    print(
        f"[demo] dataset {data_root}: {len(dataset['train'])} train / {len(dataset['test'])} test videos, "
        f"labels: {', '.join(axes)} ({time.perf_counter() - stamp:.0f} s)"
    )

    stamp = time.perf_counter()
    config = build_method_config(
        recipe.method,
        DEMO_BACKBONE,
        backbone_overrides=DEMO_BACKBONE_CONFIG,
        overrides={**DEMO_CLIP, **recipe.config, "epochs": epochs},
    )
    training = TrainingArguments(
        output_dir=output_dir / "pretrain",
        num_workers=num_workers,
        seed=seed,
        logging_steps=5,
        save_steps=10_000,
        overwrite=True,  # the demo rebuilds everything it shows: a re-run replaces its own pretraining
        monitor_every=2,  # the kNN curve in pretrain/monitor.jsonl: 6 passes, measured 4.5% of the pretraining time
    )
    trained = pretrain(config, dataset, training, dataset_name=f"synthetic-{dataset_preset}")
    pretrain_seconds = time.perf_counter() - stamp
    print(f"[demo] pretrained {method} for {epochs} epochs ({pretrain_seconds:.0f} s)")

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
    random_name += "" if recipe.stream == "rgb" else f" on {recipe.stream}"
    # both tested on the clips of the processor saved with the model
    processor = default_processor(reloaded, str(trained.model_dir), frame_stride=DEMO_EVAL_STRIDE)
    # L2 -> BatchNorm -> linear (ViCC / CoCLR's probe head): a random init's features spread 100x less than a
    # trained network's (1e-3 vs 0.4 here), and an unnormalised probe would measure that scale, not what the
    # features tell apart
    probe_args = ProbeArguments(seed=seed, l2_norm=True, batchnorm=True)
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
            cache_dir=cache_dir or eval_dir / "feature_cache",
            num_workers=num_workers,
            stream=recipe.stream,
        )
        features = {split: evaluation.features(split) for split in ("train", "test")}
        rows[name] = {}
        slug = "pretrained" if name.startswith("pretrained") else "random"
        for axis, column in axes.items():  # one extraction, every label
            train, test = (features[split].relabel(dataset[split][column]) for split in ("train", "test"))
            names = class_names(dataset["train"], column)
            probe, _ = linear_probe(backbone, train, test, names, probe_args)
            recall = evaluate_retrieval(train, test, ks=(1, 5))
            scores = {"probe top1": probe["top1"], **recall}
            rows[name].update({f"{axis} {metric}": scores[metric] for metric in DEMO_METRICS})
            paths[f"t-SNE {slug} {axis}"] = plot_tsne(
                test.video_means().numpy(), test.labels.numpy(), names, eval_dir / f"tsne_{slug}_{axis}.png",
                title=f"t-SNE of test features by {axis}: {name}", seed=seed,
            )  # fmt: skip
    print(f"[demo] evaluated both backbones ({time.perf_counter() - stamp:.0f} s)")

    json_path, md_path = write_report(
        rows,
        eval_dir,
        "demo",
        dataset=str(data_root),
        processor=processor.to_dict(),
        method=method,
        learns=list(recipe.learns),
        epochs=epochs,
        pretrain_seconds=round(pretrain_seconds, 1),
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


def with_flow(data_root: Path, dataset: Any, num_workers: int) -> Any:
    """`dataset` reloaded with its `flow` column, the flow videos extracted first where missing."""
    from ..data.decoding import video_path
    from ..data.flow import extract_flow_videos
    from ..data.sources import load_video_dataset

    videos = sorted({video_path(cell) for split in dataset.values() for cell in split["video"]})
    stamp = time.perf_counter()
    try:
        report = extract_flow_videos(videos, method=DEMO_FLOW_METHOD, num_workers=num_workers, progress=True)
    except ImportError as err:
        raise ValueError(f"{err} (the vicc-flow demo reads optical flow)") from err
    if report.failed:
        raise ValueError(
            f"flow extraction failed for {len(report.failed)} video(s), e.g. {next(iter(report.failed.values()))}"
        )
    print(
        f"[demo] {DEMO_FLOW_METHOD} flow: {len(report.written)} written, {len(report.existing)} reused ({time.perf_counter() - stamp:.0f} s)"
    )
    return load_video_dataset(data_root)
