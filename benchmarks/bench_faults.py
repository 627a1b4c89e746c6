"""Fault injection: does a run ever lose work?

1. Kills: a tiny `hf-vssl pretrain` (Pace on a 1/8-width C3D, the synthetic "tiny" set, a checkpoint
   every step) is SIGKILLed at N random points, alternately at a random time and inside a checkpoint
   write (a random delay after `checkpoint-N.tmp` appears), resumed with `--resume` each time, and
   its final `model.safetensors` compared tensor by tensor with an uninterrupted run's.
2. Bad inputs: the command lines of issue 15 (a re-run into a finished folder, `--resume` with
   another method, a diverging learning rate, a backbone of another width, empty and text `.pth`
   files, a single-process `accelerate launch`, mistyped values); for each, the exit code, the
   message, whether a traceback was printed and whether anything was lost or written.
3. Cluster faults: a rank SIGKILLed in a two-process gloo run, a full disk during a checkpoint
   (a file size limit), damaged checkpoints, a second run started into a folder in use, videos that
   hurt the decoder (an 8K+ frame, a split file naming `../`), an upload failing half-way (a fake Hub
   on 127.0.0.1); for each, what the run did, what was lost, and the seconds from the fault until
   the run continued or stopped with its message (with the resume's seconds where there is one).

    python benchmarks/bench_faults.py --kills 4            # ~10 min on 2 CPU cores
    python benchmarks/bench_faults.py --only-cluster-faults
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from hf_vssl.data.encoding import write_video
from hf_vssl.data.synthetic import make_synthetic_ucf
from hf_vssl.training.checkpointing import PARTIAL_SUFFIX, checkpoint_damage, list_checkpoints

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "hub"))
from test_faults_push import FakeHub  # the tests' fake Hub on 127.0.0.1

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

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, preexec_fn=None) -> None:
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env or ENV,
            start_new_session=True, preexec_fn=preexec_fn,
        )  # fmt: skip
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


def message(run: Run) -> str:
    """The run's own one-line error (or its last line), shortened for the table."""
    ours = [line.strip() for line in run.lines if line.startswith("hf-vssl ")]
    text = ours[-1] if ours else (run.lines[-1].strip() if run.lines else "")
    return text if len(text) < 160 else text[:157] + "..."


def lost_nothing(output_dir: Path, before: list[Path]) -> str:
    """Whether every checkpoint that existed before the fault is still intact."""
    damaged = [p.name for p in before if not p.is_dir() or checkpoint_damage(p) is not None]
    return f"nothing ({len(before)} checkpoint(s) intact)" if not damaged else f"DAMAGED: {damaged}"


def timed_until_exit(run: Run, start: float) -> tuple[int, float]:
    code = run.finish()
    return code, time.perf_counter() - start


def lost_rank(root: Path, work: Path) -> dict:
    """Two gloo ranks started one by one (as srun does); rank 1 SIGKILLed after the first checkpoint."""
    output_dir, port = work / "lost-rank", str(29600 + os.getpid() % 300)
    ranks = []
    for rank in (0, 1):
        env = {**ENV, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}  # fmt: skip
        ranks.append(Run(pretrain_argv(root, output_dir, "--max-steps", "6", "--num-workers", "0"), env=env))
    ranks[0].wait_for(lambda: len(list_checkpoints(output_dir)) >= 1)
    before = list_checkpoints(output_dir)
    start = time.perf_counter()
    ranks[1].kill()
    code, seconds = timed_until_exit(ranks[0], start)
    return {"fault": "rank 1 of 2 SIGKILLed (gloo)", "what the run did": f"rank 0 exit {code}: {message(ranks[0])}",
            "what was lost": lost_nothing(output_dir, before), "time to recover": f"{seconds:.1f} s to stop"}  # fmt: skip


def full_disk(root: Path, work: Path) -> dict:
    """A first checkpoint written, then the resumed run's next one hits a 256 KiB file size limit."""
    output_dir = work / "full-disk"
    Run(pretrain_argv(root, output_dir, "--max-steps", "1")).finish()
    before = list_checkpoints(output_dir)

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))

    # no decoding processes: the limit would also refuse their shared-memory batches (files in /dev/shm)
    run = Run(
        pretrain_argv(root, output_dir, "--max-steps", "2", "--resume", "--num-workers", "0"),
        preexec_fn=limit,
    )
    run.wait_for(run.training)
    code, seconds = timed_until_exit(run, time.perf_counter())
    resume = time.perf_counter()
    resumed = Run(pretrain_argv(root, output_dir, "--max-steps", "2", "--resume")).finish()
    return {"fault": "full disk during checkpoint 2 (RLIMIT_FSIZE 256 KiB)", "what the run did": f"exit {code}: {message(run)}",
            "what was lost": lost_nothing(output_dir, before),
            "time to recover": f"{seconds:.1f} s to stop; resume exit {resumed} in {time.perf_counter() - resume:.0f} s"}  # fmt: skip


def damaged_checkpoints(root: Path, work: Path) -> dict:
    """The newest checkpoint truncated, the one before it altered by one byte: --resume takes the third."""
    output_dir = work / "damaged"
    Run(pretrain_argv(root, output_dir, "--max-steps", "3", "--save-total-limit", "0")).finish()
    first, second, third = list_checkpoints(output_dir)[-3:]
    weights = third / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    data = bytearray((second / "optimizer.bin").read_bytes())
    data[1000] ^= 0xFF
    (second / "optimizer.bin").write_bytes(bytes(data))
    start = time.perf_counter()
    run = Run(pretrain_argv(root, output_dir, "--max-steps", "4", "--resume"))
    run.wait_for(lambda: any(line.startswith("resumed from") for line in run.lines))
    seconds = time.perf_counter() - start
    code = run.finish()
    resumed = next((line.strip() for line in run.lines if line.startswith("resumed from")), "no resume line")
    warnings = sum(line.startswith("warning: --resume:") for line in run.lines)
    return {"fault": "newest checkpoint truncated, the previous one with a flipped byte", "what the run did":
            f"exit {code}; {warnings} warnings naming them; {resumed.split(':')[0].replace(str(output_dir), '')}",
            "what was lost": f"steps after {first.name} (the damaged ones)", "time to recover": f"{seconds:.1f} s to resume"}  # fmt: skip


def second_run(root: Path, work: Path) -> dict:
    output_dir = work / "in-use"
    first = Run(pretrain_argv(root, output_dir))  # all 12 steps: still running when the second starts
    first.wait_for(first.training)
    start = time.perf_counter()
    second = Run(pretrain_argv(root, output_dir, "--max-steps", "2", "--resume"))
    code, seconds = timed_until_exit(second, start)
    first_code = first.finish()
    return {"fault": "a second run started into a folder in use", "what the run did": f"exit {code}: {message(second)}",
            "what was lost": f"nothing (the first run ended with exit {first_code})", "time to recover": f"{seconds:.1f} s to refuse (start-up included)"}  # fmt: skip


def hurtful_videos(root: Path, work: Path) -> list[dict]:
    """A train video replaced by a 7696x4336 one (over the 8K UHD default), and a split file row `../`."""
    data = work / "hurtful-data"
    shutil.copytree(root, data)
    listing = data / "ucfTrainTestlist" / "trainlist01.txt"
    victim = data / listing.read_text().split()[0]
    write_video(victim, np.zeros((2, 4336, 7696, 3), dtype=np.uint8))
    start = time.perf_counter()
    run = Run(pretrain_argv(data, work / "hurtful", "--max-steps", "3"))
    code, seconds = timed_until_exit(run, start)
    epochs = [line.strip() for line in run.lines if line.startswith("epoch ")]
    skipped = epochs[-1].split("skipped videos ")[1].split(",")[0] if epochs else "?"
    # the loader probes every video up front: one past the limits is left out and reported there
    left_out = next(
        (line.strip()[:120] for line in run.lines if "unreadable" in line or "probed" in line), ""
    )
    rows = [{"fault": "a 7696x4336 video in the train split", "what the run did": f"exit {code}; {left_out}; skipped videos {skipped}",
             "what was lost": "that one video (left out, named in the load report)", "time to recover": f"continued ({seconds:.0f} s run)"}]  # fmt: skip
    first_row = listing.read_text().split("\n")[0].split()
    with open(listing, "a") as handle:
        handle.write(f"{first_row[0].split('/')[0]}/../../outside.mp4 {first_row[1]}\n")
    shutil.copy(root / first_row[0], work / "outside.mp4")
    start = time.perf_counter()
    run = Run(pretrain_argv(data, work / "escape", "--max-steps", "1"))
    code, seconds = timed_until_exit(run, start)
    rows.append({"fault": "a split file row '<Class>/../../outside.mp4'", "what the run did": f"exit {code}: {message(run)}",
                 "what was lost": "nothing (no run started)", "time to recover": f"{seconds:.1f} s to refuse (start-up included)"})  # fmt: skip
    return rows


def failing_upload(work: Path) -> list[dict]:
    """`upload_repository` against the fake Hub: two transient failures, then one that never ends."""
    from transformers import AutoConfig, AutoModel

    from hf_vssl.hub.push import upload_repository

    folder = work / "upload"
    AutoModel.from_config(AutoConfig.for_model("vssl-c3d", width_multiplier=0.125)).save_pretrained(folder)
    hub = FakeHub()
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    rows = []
    for failures, name in (
        (["503", "reset"], "503 then a reset connection"),
        (["503"] * 4, "503 on every try"),
    ):
        hub.failures, hub.files, hub.commit_requests = list(failures), {}, 0
        start = time.perf_counter()
        try:
            upload_repository(
                folder, "alice/repo", token="hf_fake", endpoint=hub.endpoint, backoff_seconds=0.5
            )
            did = f"committed on try {hub.commit_requests}"
        except RuntimeError as err:
            did = " ".join(str(err).split())[:157]
        held = sorted(hub.files)
        rows.append({"fault": f"upload: {name}", "what the run did": did,
                     "what was lost": f"nothing; the repository holds {held or 'no file'}",
                     "time to recover": f"{time.perf_counter() - start:.1f} s"})  # fmt: skip
    hub.shutdown()
    hub.server_close()
    return rows


def cluster_faults(root: Path, work: Path) -> list[dict]:
    rows = [
        lost_rank(root, work),
        full_disk(root, work),
        damaged_checkpoints(root, work),
        second_run(root, work),
    ]
    return rows + hurtful_videos(root, work) + failing_upload(work)


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
    parser.add_argument("--only-cluster-faults", action="store_true", help="run part 3 only")
    options = parser.parse_args()
    work = options.work_dir or Path(tempfile.mkdtemp(prefix="bench_faults_"))
    root = make_synthetic_ucf(work / "data", preset="tiny", seed=0)
    if options.only_cluster_faults:
        stamp = time.perf_counter()
        rows = cluster_faults(root, work)
        print(f"## Cluster faults ({time.perf_counter() - stamp:.0f} s)\n")
        print(table(rows))
        print(f"\nruns in {work}")
        return
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
    stamp = time.perf_counter()
    rows = cluster_faults(root, work)
    print(f"\n## Cluster faults ({time.perf_counter() - stamp:.0f} s)\n")
    print(table(rows))
    print(f"\nruns in {work}")


if __name__ == "__main__":
    main()
