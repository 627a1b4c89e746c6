"""What does each method learn? Static (appearance) and dynamic (motion) concepts, against a random init.

Each (method, seed) is one `hf-vssl demo --method M --seed S` run, as a user would type it: the two-label
synthetic set (`hf-vssl synth --preset two-label-*`: each video has an appearance family, told apart by one
frame, and a motion class, told apart only over time, crossed independently), the same backbone and clip for
every method, each method's demo recipe (hf_vssl/hub/recipes.py DEMO_RECIPES, every departure from its
paper written beside it), then linear probe and retrieval of the pretrained backbone and of the same backbone at random
init on each label. On a two-label-order-* set the same features are also scored on its four motions told apart
only by temporal order (ORDER_MOTIONS), which no single optical-flow frame tells apart. One table (mean +- std over seeds, in %) and a bar plot, then the learning curves: the
weighted kNN top-1 of the demo's monitor (`--monitor-every`, pretrain/monitor.jsonl: train bank -> test
videos, every two epochs, epoch 0 = the random init) per label, mean +- std over seeds, as a table and a plot. Expected profile, for the
figures to confirm or refute: Pace and MFO above random on motion, ViCC-RGB on appearance, ViCC-Flow on motion,
SDC on both. ViCC-Flow runs where the flow extra is installed (`pip install 'hf-vssl[flow]'`), else it is left out.

Every run keeps its folder under --workdir (one per size and budget) and a finished run is reused, so an
interrupted benchmark resumes; the dataset and the random init's features are built once and shared.

    python benchmarks/bench_learning.py --quick                                   # smoke: tiny set, 1 epoch
    python benchmarks/bench_learning.py --seeds 0 1 2 --plot learning.png --curves-plot curves.png  # CPU
    python benchmarks/bench_learning.py --size two-label-large --epochs 50 --plot gpu.png
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hf_vssl.data.synthetic import ORDER_MOTIONS
from hf_vssl.hub.recipes import AXES, DEMO_DATASET, DEMO_RECIPES, DEMO_VERDICT
from hf_vssl.training.monitor import MONITOR_FILE

RANDOM = "random init"
METRICS = {"probe top-1": "probe top1", "R@1": "R@1"}  # table column -> the demo report's metric
QUICK = {"size": "two-label-tiny", "epochs": 1, "seeds": [0]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--methods", nargs="+", default=list(DEMO_RECIPES), choices=list(DEMO_RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="init and training seeds")
    parser.add_argument(
        "--epochs", type=int, help="pretraining epochs of every method (default: each demo recipe's)"
    )
    parser.add_argument("--size", default=DEMO_DATASET, help="synthetic preset (two-label-tiny / -small)")
    parser.add_argument("--workdir", type=Path, default=Path("outputs/bench_learning"))
    parser.add_argument("--plot", type=Path, help="save the bar plot here (png, pdf, svg)")
    parser.add_argument("--curves-plot", type=Path, help="save the kNN learning curves here (png, pdf, svg)")
    parser.add_argument("--quick", action="store_true", help=f"smoke size: {QUICK} unless given")
    parser.add_argument("--num-workers", type=int, default=2, help="decoding processes of each run")
    args = parser.parse_args(argv)
    if not args.size.startswith("two-label"):
        parser.error(f"--size {args.size} has no appearance label; choose a two-label-* preset")
    flow = [m for m in args.methods if DEMO_RECIPES[m].stream == "flow"]
    if flow and importlib.util.find_spec("cv2") is None:
        print(f"[bench] leaving out {flow}: optical flow needs the flow extra (pip install 'hf-vssl[flow]')")
        args.methods = [m for m in args.methods if m not in flow]
    if args.quick:
        given = set(argv if argv is not None else sys.argv[1:])
        for name, value in QUICK.items():
            if f"--{name}" not in given:
                setattr(args, name, value)
    return args


def demo(args: argparse.Namespace, root: Path, method: str, seed: int) -> dict:
    """The report of `hf-vssl demo --method METHOD --seed SEED` (run unless its report is there)."""
    out = root / method / f"seed{seed}"
    report = out / "eval" / "demo.json"
    if not report.is_file():
        command = ["demo", "--method", method, "--seed", str(seed), "--dataset-preset", args.size]
        command += ["--output-dir", str(out), "--data-dir", str(root.parent / "data")]
        command += ["--cache-dir", str(root / "feature_cache"), "--num-workers", str(args.num_workers)]
        if args.epochs is not None:
            command += ["--epochs", str(args.epochs)]
        out.mkdir(parents=True, exist_ok=True)
        log = out / "demo.log"
        with log.open("w") as handle:
            handle.write(f"$ hf-vssl {shlex.join(command)}\n")
            handle.flush()  # exit 1 = did not beat random: a result, not a failure; the report says which
            subprocess.run(
                [sys.executable, "-m", "hf_vssl.cli.main", *command], stdout=handle, stderr=subprocess.STDOUT
            )
        if not report.is_file():
            tail = "\n".join(log.read_text().splitlines()[-15:])
            raise RuntimeError(
                f"hf-vssl demo --method {method} --seed {seed} wrote no report, log {log}:\n{tail}"
            )
    return json.loads(report.read_text())


def summarise(results: dict[str, list[dict]], axes: list[str]) -> dict[str, dict[str, tuple]]:
    """{row: {"<axis> <metric>": (mean, std)}} in %, std over seeds (0 for one seed)."""
    table = {}
    for name, runs in results.items():
        table[name] = {}
        for axis in axes:
            for column, metric in METRICS.items():
                values = 100 * np.array([run[f"{axis} {metric}"] for run in runs])
                std = values.std(ddof=1) if len(values) > 1 else 0.0
                table[name][f"{axis} {column}"] = (values.mean(), std)
    return table


def markdown(table: dict[str, dict[str, tuple]]) -> str:
    columns = list(next(iter(table.values())))
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, cells in table.items():
        lines.append(f"| {name} | " + " | ".join(f"{m:.1f} ± {s:.1f}" for m, s in cells.values()) + " |")
    return "\n".join(lines)


def plot(table: dict[str, dict[str, tuple]], axes: list[str], chance: dict[str, float], path: Path) -> None:
    """Bars per model, grouped by label, one panel per metric, error bars = std over seeds, chance dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, panels = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS) + 2, 4), squeeze=False)
    width = 0.8 / len(table)
    for panel, column in zip(panels[0], METRICS):
        for i, (name, cells) in enumerate(table.items()):
            means, stds = zip(*(cells[f"{axis} {column}"] for axis in axes))
            positions = np.arange(len(axes)) + (i - (len(table) - 1) / 2) * width
            panel.bar(positions, means, width, yerr=stds, capsize=3, label=name)
        for j, axis in enumerate(axes):
            panel.hlines(100 * chance[axis], j - 0.45, j + 0.45, colors="k", linestyles="dashed")
        panel.set_xticks(range(len(axes)), axes)
        panel.set_ylabel(f"{column} (%)")
        panel.set_title(f"{column} (dashed: chance)")
    panels[0][-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))  # beside the bars
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def monitor_curves(root: Path, methods: list[str], seeds: list[int], axes: list[str]) -> dict[str, dict]:
    """{method: {axis: (epochs, kNN top-1 in % as an array seeds x epochs)}} from each run's monitor.jsonl; the
    epochs every seed's run has (a run cut short by a crash is not averaged into the others)."""
    curves = {}
    for method in methods:
        runs = []
        for seed in seeds:
            lines = (root / method / f"seed{seed}" / "pretrain" / MONITOR_FILE).read_text().splitlines()
            runs.append({line["epoch"]: line for line in map(json.loads, lines)})
        epochs = sorted(set.intersection(*(set(run) for run in runs)))
        curves[method] = {
            axis: (
                epochs,
                100 * np.array([[run[e][f"knn_top1_{AXES[axis]}"] for e in epochs] for run in runs]),
            )
            for axis in axes
        }
    return curves


def curves_markdown(curves: dict[str, dict], axes: list[str]) -> str:
    """One row per method and label: kNN top-1 mean +- std over seeds at every monitored epoch (0 = random init)."""
    epochs = sorted({e for per_axis in curves.values() for seen, _ in per_axis.values() for e in seen})
    lines = [
        "| method | label | " + " | ".join(f"ep {e}" for e in epochs) + " |",
        "|---" * (len(epochs) + 2) + "|",
    ]
    for method, per_axis in curves.items():
        for axis in axes:
            seen, values = per_axis[axis]
            cells = {e: f"{m:.1f} ± {s:.1f}" for e, m, s in zip(seen, values.mean(0), _std(values))}
            lines.append(f"| {method} | {axis} | " + " | ".join(cells.get(e, "") for e in epochs) + " |")
    return "\n".join(lines)


def _std(values: np.ndarray) -> np.ndarray:
    return values.std(0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])


def plot_curves(curves: dict[str, dict], axes: list[str], chance: dict[str, float], path: Path) -> None:
    """One panel per label: each method's kNN top-1 over epochs (band = std over seeds), its own epoch-0 value
    (the random init it started from) dotted in the same colour, chance dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, panels = plt.subplots(1, len(axes), figsize=(5.5 * len(axes) + 2, 4), squeeze=False)
    for panel, axis in zip(panels[0], axes):
        for method, per_axis in curves.items():
            epochs, values = per_axis[axis]
            mean, std = values.mean(0), _std(values)
            (line,) = panel.plot(epochs, mean, marker="o", label=method)
            panel.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.15)
            panel.axhline(mean[0], color=line.get_color(), linestyle="dotted", linewidth=1)
        panel.axhline(100 * chance[axis], color="k", linestyle="dashed", linewidth=1)
        panel.set_xlabel("epoch (0: random init, dotted)")
        panel.set_ylabel(f"{axis} kNN top-1 (%)")
        panel.set_title(f"{axis} (dashed: chance)")
    panels[0][-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def order_only_scores(
    root: Path, data_root: Path, method: str, seed: int, num_workers: int
) -> dict[str, dict]:
    """{row: {"order probe top1", "order R@1"}}: the demo's two evaluations (pretrained, random init) of one run
    scored on the videos of the order-only motions, from the features the demo cached (nothing is decoded)."""
    from hf_vssl.cli.demo import build_evaluations
    from hf_vssl.data.sources import DataArguments, class_names
    from hf_vssl.evaluation.probe import ProbeArguments, linear_probe
    from hf_vssl.evaluation.retrieval import evaluate_retrieval

    run = root / method / f"seed{seed}"
    data = DataArguments(dataset=str(data_root))
    evaluations = build_evaluations(
        run / "pretrain" / "model",
        method,
        data,
        run / "order_eval",
        seed,
        num_workers,
        root / "feature_cache",
    )
    names = class_names(data.load()["train"], AXES["motion"])
    kept = [names.index(name) for name in ORDER_MOTIONS]
    scores = {}
    for row, evaluation in evaluations.items():
        train, test = (_only_classes(evaluation.features(split), kept) for split in ("train", "test"))
        probe, _ = linear_probe(evaluation.backbone, train, test, ORDER_MOTIONS, ProbeArguments(seed=seed))
        recall = evaluate_retrieval(train, test, ks=(1,))
        scores[row] = {"order probe top1": probe["top1"], "order R@1": recall["R@1"]}
    return scores


def order_only_results(
    args: argparse.Namespace, root: Path, data_root: Path, randoms: dict[str, str]
) -> dict[str, list[dict]]:
    """`order_only_scores` of every run, as the main table's rows: each method, and each stream's random init
    once per seed."""
    rows: dict[str, dict[int, dict]] = {}
    for seed in args.seeds:
        for method in args.methods:
            for row, scores in order_only_scores(root, data_root, method, seed, args.num_workers).items():
                name = method if row.startswith("pretrained") else randoms[DEMO_RECIPES[method].stream]
                rows.setdefault(name, {})[seed] = scores
    names = [*randoms.values(), *args.methods]  # the main table's order
    return {name: list(rows[name].values()) for name in names if name in rows}


def _only_classes(clips, classes: list[int]):
    """`clips` restricted to the videos of `classes`, relabelled 0..len(classes)-1 in that order."""
    import torch

    keep = torch.isin(clips.labels, torch.tensor(classes))
    new_index = torch.full((clips.num_videos,), -1).masked_scatter_(keep, torch.arange(int(keep.sum())))
    crops = keep[clips.video_index]
    relabel = {old: new for new, old in enumerate(classes)}
    return type(clips)(
        outputs=clips.outputs[crops],
        video_index=new_index[clips.video_index[crops]],
        labels=torch.tensor([relabel[int(label)] for label in clips.labels[keep]]),
        rows=clips.rows[keep],
    )


def print_verdicts(
    args: argparse.Namespace,
    results: dict[str, list[dict]],
    randoms: dict[str, str],
    table: dict[str, dict[str, tuple]],
) -> None:
    """The demo's verdict, seed by seed, against the random init of each method's stream, and the margin the
    random init's measured seed-to-seed spread implies (where `DemoVerdict.margin` comes from)."""
    for method in args.methods:
        random_runs = results[randoms[DEMO_RECIPES[method].stream]]
        for axis in DEMO_RECIPES[method].learns:
            wins = sum(DEMO_VERDICT.beats(run, rand, axis) for run, rand in zip(results[method], random_runs))
            print(f"  {method} beats the random init on {axis} in {wins} of {len(args.seeds)} seeds")
    if len(args.seeds) < 2:
        return
    stds = np.array([std for name in randoms.values() for _, std in table[name].values()])
    spread = np.sqrt(np.mean(stds**2))  # RMS over the random init's cells, in points
    print(
        f"  random init seed-to-seed std, RMS over its {len(stds)} cells: {spread:.1f} points; two such runs "
        f"differ by sqrt(2) x {spread:.1f} = {np.sqrt(2) * spread:.1f} (the demo's margin: "
        f"{100 * DEMO_VERDICT.margin:.1f}, hf_vssl/hub/recipes.py DemoVerdict)"
    )


def chance_levels(data_root: Path) -> dict[str, float]:
    """1 / classes of each label of the synthetic set in `data_root`, as the project's loader reads its labels."""
    from hf_vssl.data.sources import class_names, load_video_dataset

    train = load_video_dataset(data_root)["train"]
    return {axis: 1 / len(class_names(train, column)) for axis, column in AXES.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    budget = f"e{args.epochs}" if args.epochs is not None else "demo"
    root = args.workdir / f"{args.size}-{budget}"
    streams = sorted({DEMO_RECIPES[method].stream for method in args.methods}, key=lambda s: s != "rgb")
    randoms = {stream: RANDOM if stream == "rgb" else f"{RANDOM} ({stream})" for stream in streams}
    results: dict[str, list[dict]] = {**{randoms[s]: [] for s in streams}, **{m: [] for m in args.methods}}
    timings = []
    for seed in args.seeds:
        tested = set()
        for method in args.methods:
            report = demo(args, root, method, seed)
            pretrained, random_init = report["results"].values()
            results[method].append(pretrained)
            stream = DEMO_RECIPES[method].stream
            if stream not in tested:  # one seed gives the same random backbone in every run on a stream
                results[randoms[stream]].append(random_init)
                tested.add(stream)
            timings.append(
                f"{method} seed {seed}: {report['epochs']} epochs, pretraining {report['pretrain_seconds']:.0f} s"
            )
            print(f"[bench] {method} seed {seed}: {json.dumps(pretrained)}", flush=True)
    axes = [axis for axis in AXES if f"{axis} R@1" in results[args.methods[0]][0]]
    data_root = root.parent / "data" / f"synthetic-{args.size}"
    chance = chance_levels(data_root)

    table = summarise(results, axes)
    print()
    print(f"$ python benchmarks/bench_learning.py {shlex.join(argv if argv is not None else sys.argv[1:])}")
    print(
        f"synthetic {args.size}, C3D width 1/8, 8x64x64 clips, each method's demo recipe"
        f"{'' if args.epochs is None else f' for {args.epochs} epochs'}, seeds {args.seeds}; "
        "% mean ± std over seeds; chance: " + ", ".join(f"{axis} {100 * chance[axis]:.1f}" for axis in axes)
    )
    print(markdown(table))
    print_verdicts(args, results, randoms, table)
    if "-order-" in args.size:
        print(f"\nthe {len(ORDER_MOTIONS)} order-only motions ({', '.join(ORDER_MOTIONS)}; chance 25%):")
        print(markdown(summarise(order_only_results(args, root, data_root, randoms), ["order"])))
    curves = monitor_curves(root, args.methods, args.seeds, axes)
    print(
        "\nkNN top-1 (%) of the monitor while pretraining (k 20, T 0.07, train -> test), mean ± std over seeds:"
    )
    print(curves_markdown(curves, axes))
    for line in timings:
        print(f"  {line}")
    if args.plot:
        plot(table, axes, chance, args.plot)
        print(f"plot: {args.plot}")
    if args.curves_plot:
        plot_curves(curves, axes, chance, args.curves_plot)
        print(f"curves: {args.curves_plot}")
    print(f"wall time: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
