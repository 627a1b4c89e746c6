"""Fault injection: does a run ever lose work?

1. Kills: a tiny `hf-vssl pretrain` (Pace on a 1/8-width C3D, the synthetic "tiny" set, a checkpoint
   every step) is SIGKILLed at N random points, alternately at a random time and inside a checkpoint
   write (a random delay after `checkpoint-N.tmp` appears), resumed with `--resume` each time, and
   its final `model.safetensors` compared tensor by tensor with an uninterrupted run's.
2. Bad inputs: the command lines of issue 15 (a re-run into a finished folder, `--resume` with
   another method, a diverging learning rate, a backbone of another width, empty and text `.pth`
   files, a single-process `accelerate launch`, mistyped values); for each, the exit code, the
   message, whether a traceback was printed and whether anything was lost or written.

    python benchmarks/bench_faults.py --kills 4            # ~10 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from hf_vssl.data.synthetic import make_synthetic_ucf
from hf_vssl.training.checkpointing import PARTIAL_SUFFIX, list_checkpoints

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
HF_VSSL = [sys.executable, "-m", "hf_vssl.cli.main"]
# Pace at the smallest size that still runs every part of the loop: 24 videos, global batch 8,
# 4 epochs = 12 optimizer steps, a checkpoint after every one (keeping 2)
RUN = [
    "--method", "pace", "--backbone", "c3d", "--backbone-config", "width_multiplier=0.125",
    "--set", "num_frames=8", "--set", "crop_size=32", "--set", "frame_size=[40,50]",
    "--epochs", "4", "--batch-size", "8", "--num-workers", "1", "--save-steps", "1",
    "--logging-steps", "1", "--no-progress-bar",
]  # fmt: skip


def pretrain_argv(root: Path, output_dir: Path, *extra: str) -> list[str]:
    return [*HF_VSSL, "pretrain", *RUN, "--dataset", str(root), "--output-dir", str(output_dir), *extra]


class Run:
    """A command in a session of its own (SIGKILL reaches its DataLoader workers), its output read
    line by line."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, start_new_session=True
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()

    def training(self) -> bool:
        """The run printed its setup line: it is past imports and data loading."""
        return any(line.startswith("run: ") for line in self.lines)

    def wait_for(self, predicate, timeout: float = 600) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.finish()

    def finish(self, timeout: float = 900) -> int:
        code = self.process.wait(timeout=timeout)
        self.reader.join()
        return code


def same_weights(a: Path, b: Path) -> bool:
    if not (a.is_file() and b.is_file()):
        return False
    expected, actual = load_file(a), load_file(b)
    return expected.keys() == actual.keys() and all(torch.equal(expected[k], actual[k]) for k in expected)


def newest_step(output_dir: Path) -> int | None:
    checkpoints = list_checkpoints(output_dir)
    return int(checkpoints[-1].name.split("-")[-1]) if checkpoints else None


def describe_step(step: int | None) -> str:
    return "start (no checkpoint)" if step is None else f"step {step}"


def writing_checkpoint(output_dir: Path) -> bool:
    return any((output_dir / "checkpoints").glob(f"*{PARTIAL_SUFFIX}"))


def kill_and_resume(root: Path, output_dir: Path, kills: int, rng: random.Random) -> list[dict]:
    """SIGKILL the run `kills` times, resuming each time; then let it finish."""
    rows = []
    for index in range(kills):
        before = newest_step(output_dir)
        run = Run(pretrain_argv(root, output_dir, *(["--resume"] if before is not None else [])))
        started = run.wait_for(run.training)
        in_write = index % 2 == 1
        if in_write:  # a random moment of a checkpoint write
            started = started and run.wait_for(lambda: writing_checkpoint(output_dir))
            delay = rng.uniform(0.0, 0.03)  # a tiny checkpoint takes ~0.1 s to write here
        else:
            delay = rng.uniform(0.0, 6.0)
        time.sleep(delay)
        writing = writing_checkpoint(output_dir)
        finished_first = run.process.poll() is not None
        run.kill()
        rows.append({
            "kill": f"{index + 1}: {'in a checkpoint write' if in_write else 'random time'} +{delay:.2f} s",
            "resumed from": describe_step(before),
            "state at kill": "finished before the kill" if finished_first or not started
            else ("a checkpoint write in progress" if writing else "training"),
            "newest complete checkpoint after": describe_step(newest_step(output_dir)),
        })  # fmt: skip
    before = newest_step(output_dir)
    code = Run(pretrain_argv(root, output_dir, "--resume")).finish()
    rows.append({
        "kill": "final resume to the end", "resumed from": describe_step(before),
        "state at kill": f"exit {code}", "newest complete checkpoint after": describe_step(newest_step(output_dir)),
    })  # fmt: skip
    return rows


def sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def bad_inputs(root: Path, work: Path, finished: Path) -> list[dict]:
    """Each bad command line of issue 15, all at once; what it printed and what it left."""
    (work / "empty.pth").write_bytes(b"")
    (work / "notes.pth").write_text("not a checkpoint\n")
    wide = work / "wide-backbone"
    code = (
        "import hf_vssl, sys; from transformers import AutoConfig, AutoModel; AutoModel.from_config("
        "AutoConfig.for_model('vssl-c3d', width_multiplier=0.25)).save_pretrained(sys.argv[1])"
    )
    subprocess.run([sys.executable, "-c", code, str(wide)], check=True, env=ENV, capture_output=True)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "hf_vssl.cli.main"]  # fmt: skip
    model = finished / "model" / "model.safetensors"
    one_step = ("--max-steps", "1")
    cases = {
        "re-run into a finished folder": pretrain_argv(root, finished),
        "--resume with another method": [
            *HF_VSSL, "pretrain", "--method", "mfo", *RUN[2:], "--dataset", str(root), "--output-dir",
            str(finished), "--resume",
        ],
        "--lr 1e6 (diverges)": pretrain_argv(root, work / "nan", "--lr", "1e6", "--logging-steps", "100"),
        "--init-backbone-from a wider C3D": pretrain_argv(root, work / "init", "--init-backbone-from", str(wide)),
        "convert an empty .pth": [*HF_VSSL, "convert", "--from", "pace", str(work / "empty.pth"), str(work / "out")],
        "convert a text .pth": [*HF_VSSL, "convert", "--from", "pace", str(work / "notes.pth"), str(work / "out")],
        "accelerate launch --cpu --num_processes 2": [*launch, *pretrain_argv(root, work / "launch")[3:]],
        "--set learning_rate=1e-3": pretrain_argv(root, work / "lr", "--set", "learning_rate=1e-3", *one_step),
        "--set num_frames=abc": pretrain_argv(root, work / "abc", "--set", "num_frames=abc", *one_step),
        "--backbone-config widht_multiplier=0.1": pretrain_argv(
            root, work / "typo", "--backbone-config", "widht_multiplier=0.1", *one_step
        ),
    }  # fmt: skip
    for argv in cases.values():  # every case but the finished run's starts from an empty folder
        if "--output-dir" in argv and Path(argv[argv.index("--output-dir") + 1]) != finished:
            shutil.rmtree(argv[argv.index("--output-dir") + 1], ignore_errors=True)
    before = sha256(model)
    runs = {name: Run(argv) for name, argv in cases.items()}
    rows = []
    for name, run in runs.items():
        code = run.finish()
        ours = [line.strip() for line in run.lines if line.startswith("hf-vssl ")]
        output_dir = (
            Path(cases[name][cases[name].index("--output-dir") + 1])
            if "--output-dir" in cases[name]
            else None
        )
        if output_dir == finished:
            lost = (
                "nothing (model unchanged)" if sha256(model) == before else "THE FINISHED RUN'S MODEL CHANGED"
            )
        elif code != 0:
            wrote = (output_dir is not None and (output_dir / "model").exists()) or (work / "out").exists()
            lost = "nothing (no model written)" if not wrote else "A MODEL WAS WRITTEN"
        else:
            lost = "ran (accepted)"
        rows.append({
            "case": name, "exit": str(code), "traceback": "yes" if any("Traceback" in line for line in run.lines) else "no",
            "message": ours[-1] if ours else (run.lines[-1].strip() if run.lines else ""), "lost": lost,
        })  # fmt: skip
    return rows


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]).replace("|", "/") for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=4, help="SIGKILLs of the faulty run (default: 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill points")
    parser.add_argument("--work-dir", type=Path, help="where runs go (default: a temporary folder)")
    parser.add_argument("--skip-bad-inputs", action="store_true")
    options = parser.parse_args()
    work = options.work_dir or Path(tempfile.mkdtemp(prefix="bench_faults_"))
    root = make_synthetic_ucf(work / "data", preset="tiny", seed=0)
    stamp = time.perf_counter()
    straight = Run(pretrain_argv(root, work / "straight"))  # the uninterrupted run, alongside the faulty one
    rows = kill_and_resume(root, work / "faulty", options.kills, random.Random(options.seed))
    assert straight.finish() == 0, "".join(straight.lines[-20:])
    equal = same_weights(
        work / "straight" / "model" / "model.safetensors", work / "faulty" / "model" / "model.safetensors"
    )
    print(f"## {options.kills} SIGKILLs and resumes ({time.perf_counter() - stamp:.0f} s)\n")
    print(table(rows))
    print(f"\nfinal weights equal to the uninterrupted run's: {'yes' if equal else 'NO'}\n")
    if not options.skip_bad_inputs:
        stamp = time.perf_counter()
        rows = bad_inputs(root, work, work / "straight")
        print(f"## Bad inputs ({time.perf_counter() - stamp:.0f} s)\n")
        print(table(rows))
    print(f"\nruns in {work}")


if __name__ == "__main__":
    main()
