"""`hf-vssl demo`: the whole pipeline on a synthetic dataset, on a CPU, in minutes, for any of the four methods.

Builds the two-label synthetic UCF-101-like dataset (every video has a motion class, told apart only over
time, and an appearance family, told apart by one frame, drawn independently), pretrains a small backbone
with one method and its demo recipe (`hf_vssl.hub.recipes`), evaluates it and the same backbone randomly
initialised by linear probe and retrieval on both labels, prints the rows side by side, and says where the
model, its card, the results and the plots are. Each step is what a user would run: the helpers of
`hf-vssl synth`, `extract-flow`, `pretrain`, `probe` and `retrieve`, with the recipe's values.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from ..data.flow import extract_flow_videos
from ..data.loaders import rgb_videos
from ..data.sources import DataArguments, class_names
from ..data.synthetic import make_synthetic_ucf
from ..evaluation.probe import ProbeArguments, linear_probe
from ..evaluation.report import markdown_table, update_model_card, write_report
from ..evaluation.retrieval import evaluate_retrieval
from ..evaluation.runner import Evaluation, EvaluationArguments, build_evaluation
from ..evaluation.tsne import plot_tsne
from ..hub.recipes import (
    AXES,
    DEMO_BACKBONE,
    DEMO_BACKBONE_CONFIG,
    DEMO_CLIP,
    DEMO_DATASET,
    DEMO_DATASETS,
    DEMO_EVAL_STRIDE,
    DEMO_FLOW_METHOD,
    DEMO_METHOD,
    DEMO_METRICS,
    DEMO_RECIPES,
    DEMO_RETRIEVAL_KS,
    DEMO_VERDICT,
    DemoVerdict,
)
from ..training.loop import LOGS_DIR, TrainingArguments
from ..training.pretrain import PretrainOutput, pretrain

DESCRIPTION = f"""End-to-end demo: synthetic data -> pretraining -> linear probe + retrieval of the pretrained
and of a randomly initialised backbone on the motion and the appearance label -> side-by-side table -> save /
reload -> plots and card. It exits with status 1 if the pretrained backbone does not beat the random one on
the label its method is for (motion: Pace, MFO, ViCC-Flow; appearance: ViCC-RGB; both: SDC):
{DEMO_VERDICT.describe()} (a smaller difference is within the seed-to-seed spread of a network that learned
nothing)."""


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
        choices=DEMO_DATASETS,
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
    print("\n" + markdown_table(rows) + "\n")
    for label, path in paths.items():
        print(f"{label:>16}: {path}")
    print(f"{'wall time':>16}: {time.perf_counter() - start:.0f} s")
    return verdict(args.method, rows)


def verdict(method: str, rows: dict[str, dict[str, float]], rule: DemoVerdict = DEMO_VERDICT) -> int:
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
    beaten = {axis: rule.beats(pretrained, random_init, axis) for axis in tested}
    for axis, won in beaten.items():
        print(
            f"on {axis} ({method} is for it), the pretrained backbone {'beats' if won else 'does NOT beat'} the "
            f"random one ({rule.describe()})"
        )
    return 0 if all(beaten.values()) else 1


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
    recipe = DEMO_RECIPES[method]
    epochs = recipe.epochs if epochs is None else epochs
    data = prepare_data(data_dir or output_dir / "data", dataset_preset, recipe.stream, num_workers)
    training = TrainingArguments(
        output_dir=output_dir / "pretrain",
        num_workers=num_workers,
        seed=seed,
        logging_steps=5,
        save_steps=10_000,
        overwrite=True,  # the demo rebuilds everything it shows: a re-run replaces its own pretraining
        monitor_every=2,  # the kNN curve in pretrain/monitor.jsonl: 6 passes, measured 5.6% of the pretraining time
    )
    stamp = time.perf_counter()
    trained = pretrain(recipe.build_config(epochs), data.load(), training, dataset_name=data.name)
    pretrain_seconds = time.perf_counter() - stamp
    print(f"[demo] pretrained {method} for {epochs} epochs ({pretrain_seconds:.0f} s)")

    stamp = time.perf_counter()
    eval_dir = output_dir / "eval"
    evaluations = build_evaluations(trained.model_dir, method, data, eval_dir, seed, num_workers, cache_dir)
    check_reload(trained, next(iter(evaluations.values())))
    rows: dict[str, dict[str, float]] = {}
    paths: dict[str, Path] = {}
    for (name, evaluation), slug in zip(evaluations.items(), ("pretrained", "random")):
        rows[name], plots = evaluate_labels(evaluation, name, slug, eval_dir, seed)
        paths.update(plots)
    print(f"[demo] evaluated both backbones ({time.perf_counter() - stamp:.0f} s)")

    context = {
        "processor": next(iter(evaluations.values())).processor.to_dict(),  # both backbones' test clips
        "method": method,
        "learns": list(recipe.learns),
        "epochs": epochs,
        "pretrain_seconds": round(pretrain_seconds, 1),
    }
    paths.update(write_results(rows, trained, eval_dir, data, **context))
    paths["logs"] = training.output_dir / LOGS_DIR
    return rows, paths


def prepare_data(data_dir: Path, preset: str, stream: str, num_workers: int) -> DataArguments:
    """`hf-vssl synth --preset PRESET` into DATA_DIR/synthetic-PRESET (reused when there: one fixed dataset,
    as a benchmark's; seeds vary the init and the training), then, for a flow recipe, `hf-vssl
    extract-flow`."""
    stamp = time.perf_counter()
    root = make_synthetic_ucf(data_dir / f"synthetic-{preset}", preset=preset, num_workers=num_workers)
    if stream == "flow":
        extract_flow(root, num_workers)
    data = DataArguments(dataset=str(root))
    splits = data.load()
    labels = [axis for axis, column in AXES.items() if column in splits["train"].column_names]
    print(
        f"[demo] dataset {root}: {len(splits['train'])} train / {len(splits['test'])} test videos, "
        f"labels: {', '.join(labels)} ({time.perf_counter() - stamp:.0f} s)"
    )
    return data


def extract_flow(root: Path, num_workers: int) -> None:
    """The flow video of every video under `root` where missing (`hf-vssl extract-flow ROOT --method
    farneback`)."""
    videos = rgb_videos(root)
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
        f"[demo] {DEMO_FLOW_METHOD} flow: {len(report.written)} written, {len(report.existing)} reused "
        f"({time.perf_counter() - stamp:.0f} s)"
    )


def build_evaluations(
    model_dir: Path,
    method: str,
    data: DataArguments,
    eval_dir: Path,
    seed: int,
    num_workers: int,
    cache_dir: Path | None,
) -> dict[str, Evaluation]:
    """{row name: `Evaluation`}, built as `hf-vssl probe` / `retrieve` build theirs: `--model MODEL_DIR`, then
    `--backbone c3d --backbone-config width_multiplier=...` (a random init of the run's seed); both on the
    same test clips (the demo clip, a frame every DEMO_EVAL_STRIDE) of the recipe's stream."""
    stream = DEMO_RECIPES[method].stream
    training = TrainingArguments(output_dir=eval_dir, seed=seed, num_workers=num_workers)
    shared = {
        **DEMO_CLIP,
        "frame_stride": DEMO_EVAL_STRIDE,
        "stream": stream,
        "cache_dir": str(cache_dir or eval_dir / "feature_cache"),
    }
    pretrained = build_evaluation(data, EvaluationArguments(model=str(model_dir), **shared), training)
    random_args = EvaluationArguments(backbone=DEMO_BACKBONE, backbone_config=DEMO_BACKBONE_CONFIG, **shared)
    random_init = build_evaluation(data, random_args, training)
    on_stream = "" if stream == "rgb" else f" on {stream}"
    return {f"pretrained ({method})": pretrained, random_init.name + on_stream: random_init}


def check_reload(trained: PretrainOutput, evaluation: Evaluation) -> None:
    """The backbone `AutoModel.from_pretrained` read back for the evaluation is the one trained."""
    saved, reloaded = trained.model.backbone.state_dict(), evaluation.backbone.state_dict()
    same = saved.keys() == reloaded.keys() and all(torch.equal(reloaded[k], saved[k].cpu()) for k in saved)
    print(
        f"[demo] AutoModel.from_pretrained({trained.model_dir}) -> {type(evaluation.backbone).__name__}, "
        f"weights identical: {same}"
    )
    if not same:
        raise RuntimeError(f"the backbone reloaded from {trained.model_dir} differs from the trained one")


def evaluate_labels(
    evaluation: Evaluation, name: str, slug: str, eval_dir: Path, seed: int
) -> tuple[dict[str, float], dict[str, Path]]:
    """`hf-vssl probe` (its default head: L2 -> BN -> linear) and `hf-vssl retrieve` on every label of the
    dataset, from one feature extraction, and a t-SNE plot per label:
    ({"<label> <metric>": value}, {plot: path})."""
    dataset = evaluation.dataset
    features = {split: evaluation.features(split) for split in ("train", "test")}
    row: dict[str, float] = {}
    plots: dict[str, Path] = {}
    for axis, column in AXES.items():
        if column not in dataset["train"].column_names:
            continue
        train, test = (features[split].relabel(dataset[split][column]) for split in ("train", "test"))
        names = class_names(dataset["train"], column)
        probe, _ = linear_probe(evaluation.backbone, train, test, names, ProbeArguments(seed=seed))
        scores = {"probe top1": probe["top1"], **evaluate_retrieval(train, test, ks=DEMO_RETRIEVAL_KS)}
        row.update({f"{axis} {metric}": scores[metric] for metric in DEMO_METRICS})
        plots[f"t-SNE {slug} {axis}"] = plot_tsne(
            test.video_means().numpy(), test.labels.numpy(), names, eval_dir / f"tsne_{slug}_{axis}.png",
            title=f"t-SNE of test features by {axis}: {name}", seed=seed,
        )  # fmt: skip
    return row, plots


def write_results(
    rows: dict[str, dict[str, float]], trained: PretrainOutput, eval_dir: Path, data: DataArguments, **context
) -> dict[str, Path]:
    """demo.json / demo.md in `eval_dir` (with `context`) and the table in the pretrained model's card."""
    json_path, md_path = write_report(rows, eval_dir, "demo", dataset=data.dataset, **context)
    card = update_model_card(
        trained.card_path, f"Demo: linear probe and retrieval on {data.name}", markdown_table(rows)
    )
    return {"model": trained.model_dir, "model card": card, "results": json_path, "results table": md_path}
