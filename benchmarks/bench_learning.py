"""What does each method learn? Static (appearance) and dynamic (motion) concepts, against a random init.

Every method is pretrained on the two-label synthetic set (`hf-vssl synth --preset two-label-*`: each video
has an appearance family, told apart by one frame, and a motion class, told apart only over time, crossed
independently) with the same backbone, clip and budget; its backbone and the same backbone at random init are
then linear-probed and used for retrieval on each label, over several seeds. One table (mean +- std over
seeds, in %) and a bar plot. Expected profile, for the figures to confirm or refute: Pace and MFO above random
on motion, ViCC-RGB on appearance, ViCC-Flow on motion, SDC on both.

Everything runs through the `hf-vssl` CLI in subprocesses, as a user would type it; logs and reports stay in
--workdir (one folder per size and budget) and a finished step is reused, so an interrupted run resumes.

    python benchmarks/bench_learning.py --quick --plot learning.png     # smoke run: tiny set, 1 epoch, 1 seed
    python benchmarks/bench_learning.py --size two-label-small --seeds 0 1 2 --epochs 10 --plot learning.png
    python benchmarks/bench_learning.py --size two-label-large --gpu --epochs 50 --batch-size 64 --plot gpu.png
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

# table name -> `hf-vssl pretrain` options; every method's recipe is its config's default (the seed's)
METHODS: dict[str, list[str]] = {
    "pace": ["--method", "pace"],
    "mfo": ["--method", "mfo"],
    "sdc": ["--method", "sdc"],
    "vicc": ["--method", "vicc"],
    "vicc-flow": ["--method", "vicc", "--set", "stream=flow"],
}
FLOW_METHODS = ("vicc-flow",)
RANDOM = "random init"
BACKBONE = ["--backbone", "c3d", "--backbone-config", "width_multiplier=0.125"]
# the demo's clip (cli/demo.py DEMO_CLIP): 8 frames, 64 px crops of 72x96 frames, so a CPU trains in minutes
CLIP = ["--set", "num_frames=8", "--set", "crop_size=64", "--set", "frame_size=[72,96]"]
# test clips of the same shape, every 3rd frame (cli/demo.py DEMO_EVAL_STRIDE: ~1 s of motion)
PROTOCOL = ["--num-frames", "8", "--crop-size", "64", "--frame-size", "72", "96", "--frame-stride", "3"]
# axis -> label column of the two-label synthetic set (`label` is the motion class, as UCF-101's folders)
AXES = {"appearance": "appearance_label", "motion": "label"}
# metric -> (command, the report it writes in its --output-dir, the value in it)
METRICS = {"probe top-1": ("probe", "probe.json", "top1"), "R@1": ("retrieve", "retrieval.json", "R@1")}
QUICK = {"size": "two-label-tiny", "epochs": 1, "seeds": [0]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="pretraining / init seeds")
    parser.add_argument("--epochs", type=int, default=10, help="pretraining epochs of every method")
    parser.add_argument("--batch-size", type=int, default=16, help="pretraining batch of every method")
    parser.add_argument(
        "--size", default="two-label-small", help="synthetic preset (hf-vssl synth --help: two-label-*)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("outputs/bench_learning"))
    parser.add_argument("--plot", type=Path, help="save the bar plot here (png, pdf, svg)")
    parser.add_argument("--quick", action="store_true", help=f"smoke size: {QUICK} unless given")
    parser.add_argument(
        "--method-set",
        action="append",
        default=[],
        metavar="METHOD:FIELD=VALUE",
        help="an extra --set for one method's pretraining (e.g. vicc:freeze_prototypes_epochs=1), repeatable",
    )
    parser.add_argument("--jobs", type=int, default=1, help="(model, seed) pipelines run at once")
    parser.add_argument("--gpu", action="store_true", help="let the commands use a GPU (default: --cpu)")
    args = parser.parse_args(argv)
    if args.quick:
        given = set(argv if argv is not None else sys.argv[1:])
        for name, value in QUICK.items():
            if f"--{name}" not in given:
                setattr(args, name, value)
    for item in args.method_set:
        method, sep, assignment = item.partition(":")
        if not sep or method not in METHODS or "=" not in assignment:
            parser.error(
                f"--method-set expects METHOD:FIELD=VALUE with METHOD in {list(METHODS)}, got '{item}'"
            )
    return args


def hf_vssl(arguments: list[str], log: Path) -> None:
    """Run `hf-vssl ARGUMENTS` with this interpreter, its output in `log`; a failure raises with the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        handle.write(f"$ hf-vssl {shlex.join(arguments)}\n")
        handle.flush()
        done = subprocess.run(
            [sys.executable, "-m", "hf_vssl.cli.main", *arguments], stdout=handle, stderr=subprocess.STDOUT
        )
    if done.returncode:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise RuntimeError(f"hf-vssl {arguments[0]} failed (exit {done.returncode}), log {log}:\n{tail}")


def supports_label_column() -> bool:
    """Whether this hf-vssl's evaluation commands take --label-column (else only `label` is evaluated)."""
    done = subprocess.run(
        [sys.executable, "-m", "hf_vssl.cli.main", "probe", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    return "--label-column" in done.stdout


def flow_view(data_root: Path, out: Path) -> Path:
    """The dataset with each video replaced by its flow video (saved DatasetDict, re-probed: a flow video has
    one frame fewer), so that `probe` / `retrieve` of a flow backbone read flow."""
    if (out / "dataset_dict.json").is_file():
        return out
    from hf_vssl.data.decoding import probe_video, video_path
    from hf_vssl.data.loaders import load_ucf101

    def to_flow(row: dict) -> dict:
        info = probe_video(video_path(row["flow"]))
        return {
            "video": row["flow"],
            "video_frames": info.video_frames,
            "width": info.width,
            "height": info.height,
        }

    load_ucf101(data_root).map(to_flow).remove_columns("flow").save_to_disk(str(out))
    return out


class Bench:
    """The steps of one benchmark: where each goes under the workdir and the options every command shares."""

    def __init__(self, args: argparse.Namespace, axes: dict[str, str]):
        self.args, self.axes = args, axes
        self.root = args.workdir / f"{args.size}-e{args.epochs}-b{args.batch_size}"
        self.data = args.workdir / "data" / args.size
        self.flow_data = args.workdir / "data" / f"{args.size}-flow"
        self.device = [] if args.gpu else ["--cpu"]
        self.timings: list[str] = []

    def pretrain(self, method: str, seed: int) -> Path:
        """Pretrain `method` (skipped when its model is there); returns the exported model folder."""
        out = self.root / method / f"seed{seed}"
        model = out / "pretrain" / "model"
        if (model / "config.json").is_file():
            return model
        extra = [
            option
            for item in self.args.method_set
            if item.partition(":")[0] == method
            for option in ("--set", item.partition(":")[2])
        ]
        start = time.perf_counter()
        hf_vssl(
            [
                "pretrain",
                *METHODS[method],
                "--dataset",
                str(self.data),
                "--output-dir",
                str(out / "pretrain"),
                *BACKBONE,
                *CLIP,
                "--set",
                f"epochs={self.args.epochs}",
                "--set",
                f"batch_size={self.args.batch_size}",
                *extra,
                "--seed",
                str(seed),
                "--num-workers",
                "1",
                "--no-progress-bar",
                *self.device,
            ],
            out / "pretrain.log",
        )
        self.timings.append(f"{method} seed {seed}: pretrain {time.perf_counter() - start:.0f} s")
        return model

    def evaluate(self, name: str, seed: int, model: Path | None, flow: bool) -> dict[str, dict[str, float]]:
        """{axis: {metric: value}} of a pretrained `model` folder, or of the random init when None."""
        out = self.root / name.replace(" ", "-") / f"seed{seed}"
        network = ["--model", str(model)] if model is not None else BACKBONE
        dataset = ["--dataset", str(self.flow_data if flow else self.data)]
        if flow:
            dataset += ["--dataset-format", "saved"]
        scores: dict[str, dict[str, float]] = {}
        start = time.perf_counter()
        for axis, column in self.axes.items():
            label = [] if column == "label" else ["--label-column", column]
            # features cached per label column: the cache key does not include it
            common = [*network, *dataset, *PROTOCOL, *label, "--cache-dir", str(out / axis / "features")]
            common += ["--seed", str(seed), "--num-workers", "1", *self.device]
            scores[axis] = {}
            for metric, (command, report, key) in METRICS.items():
                folder = out / axis / command
                if not (folder / report).is_file():
                    hf_vssl([command, *common, "--output-dir", str(folder)], folder.with_suffix(".log"))
                (row,) = json.loads((folder / report).read_text())["results"].values()
                scores[axis][metric] = row[key]
        self.timings.append(f"{name} seed {seed}: evaluation {time.perf_counter() - start:.0f} s")
        return scores

    def pipeline(self, name: str, seed: int) -> dict[str, dict[str, float]]:
        """Pretrain (unless random) and evaluate one row for one seed."""
        flow = name in FLOW_METHODS or name == f"{RANDOM} (flow)"
        model = None if name.startswith(RANDOM) else self.pretrain(name, seed)
        scores = self.evaluate(name, seed, model, flow)
        print(f"[bench] {name} seed {seed}: {json.dumps(scores)}", flush=True)
        return scores


def summarise(results: dict[str, list[dict]], axes: dict[str, str]) -> dict[str, dict[str, tuple]]:
    """{row: {"<axis> <metric>": (mean, std)}} in %, std over seeds (0 for one seed)."""
    table = {}
    for name, runs in results.items():
        table[name] = {}
        for axis in axes:
            for metric in METRICS:
                values = 100 * np.array([run[axis][metric] for run in runs])
                std = values.std(ddof=1) if len(values) > 1 else 0.0
                table[name][f"{axis} {metric}"] = (values.mean(), std)
    return table


def markdown(table: dict[str, dict[str, tuple]]) -> str:
    columns = list(next(iter(table.values())))
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, cells in table.items():
        lines.append(f"| {name} | " + " | ".join(f"{m:.1f} ± {s:.1f}" for m, s in cells.values()) + " |")
    return "\n".join(lines)


def plot(
    table: dict[str, dict[str, tuple]], axes: dict[str, str], chance: dict[str, float], path: Path
) -> None:
    """Bars per model, grouped by axis, one panel per metric, error bars = std over seeds, chance dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, panels = plt.subplots(1, len(METRICS), figsize=(5 * len(METRICS), 4), squeeze=False)
    width = 0.8 / len(table)
    for panel, metric in zip(panels[0], METRICS):
        for i, (name, cells) in enumerate(table.items()):
            means, stds = zip(*(cells[f"{axis} {metric}"] for axis in axes))
            positions = np.arange(len(axes)) + (i - (len(table) - 1) / 2) * width
            panel.bar(positions, means, width, yerr=stds, capsize=3, label=name)
        for j, axis in enumerate(axes):
            panel.hlines(100 * chance[axis], j - 0.45, j + 0.45, colors="k", linestyles="dashed")
        panel.set_xticks(range(len(axes)), list(axes))
        panel.set_ylabel(f"{metric} (%)")
        panel.set_title(f"{metric} (dashed: chance)")
    panels[0][0].legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    bench = Bench(args, dict(AXES))
    hf_vssl(
        ["synth", "--preset", args.size, "--out", str(bench.data), "--workers", "2"], bench.root / "synth.log"
    )
    split_dir = bench.data / "ucfTrainTestlist"
    extra_labels = split_dir / "extra_labels.json"
    if not extra_labels.is_file():
        raise SystemExit(f"preset {args.size} has no appearance label; use a two-label-* preset")
    chance = {
        "appearance": 1 / len(json.loads(extra_labels.read_text())[AXES["appearance"]]["names"]),
        "motion": 1 / len((split_dir / "classInd.txt").read_text().splitlines()),
    }
    if not supports_label_column():
        print("[bench] hf-vssl probe/retrieve have no --label-column: evaluating the motion label only")
        bench.axes = {"motion": AXES["motion"]}

    rows = [RANDOM, *args.methods]
    if any(m in FLOW_METHODS for m in args.methods):
        if importlib.util.find_spec("cv2") is None:
            print("[bench] skipping vicc-flow: the flow extra is not installed (pip install 'hf-vssl[flow]')")
            rows = [r for r in rows if r not in FLOW_METHODS]
        else:  # Farneback: minutes on a CPU; ViCC's released flow is TV-L1 (`hf-vssl extract-flow` default)
            hf_vssl(
                ["extract-flow", str(bench.data), "--method", "farneback", "--workers", "2"],
                bench.root / "flow.log",
            )
            flow_view(bench.data, bench.flow_data)
            rows.insert(1, f"{RANDOM} (flow)")

    jobs = [(name, seed) for name in rows for seed in args.seeds]
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        scores = list(pool.map(lambda job: bench.pipeline(*job), jobs))
    results: dict[str, list[dict]] = {name: [] for name in rows}
    for (name, _seed), score in zip(jobs, scores):
        results[name].append(score)

    table = summarise(results, bench.axes)
    print()
    print(f"$ python benchmarks/bench_learning.py {shlex.join(argv if argv is not None else sys.argv[1:])}")
    print(
        f"{args.size}, C3D width 1/8, {args.epochs} epochs, batch {args.batch_size}, seeds {args.seeds}; "
        f"% mean ± std over seeds; chance: "
        + ", ".join(f"{axis} {100 * chance[axis]:.1f}" for axis in bench.axes)
    )
    print(markdown(table))
    for line in bench.timings:
        print(f"  {line}")
    if args.plot:
        plot(table, bench.axes, chance, args.plot)
        print(f"plot: {args.plot}")
    print(f"wall time: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
