"""The command line as a user (or a scheduler) meets it, each in a process of its own: SIGTERM saves
a checkpoint, exits with the requeue status and prints the command that resumes it to the same weights; bad inputs are one line on
stderr with no traceback (unless --debug) and write no model."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel

from hf_vssl.training.interrupts import REQUEUE_STATUS

TINY_CLI = Path(__file__).parent / "tiny_cli.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def _pretrain_argv(root: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, str(TINY_CLI), "pretrain", "--method", "tiny-contrast", "--dataset", str(root),
        "--output-dir", str(output_dir), "--num-workers", "1", "--epochs", "2", "--max-steps", "10",
        "--save-steps", "2", "--logging-steps", "1", "--no-progress-bar", *extra,
    ]  # fmt: skip


def _start(argv: list[str]) -> subprocess.Popen:
    # a session of its own: signals go to the whole process group, as a scheduler's do
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True)  # fmt: skip


def _finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=400)
    return process.returncode, out, err


def _same_weights(a: Path, b: Path) -> None:
    expected, actual = load_file(a), load_file(b)
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


def test_sigterm_saves_a_checkpoint_and_its_resume_command_ends_as_an_uninterrupted_run(
    tiny_ucf_root, tmp_path
):
    straight = _start(_pretrain_argv(tiny_ucf_root, tmp_path / "straight"))
    interrupted = _start(_pretrain_argv(tiny_ucf_root, tmp_path / "run"))
    first_checkpoint = tmp_path / "run" / "checkpoints" / "checkpoint-2"
    deadline = time.monotonic() + 400
    while not first_checkpoint.is_dir() and interrupted.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(interrupted.pid, signal.SIGTERM)
    code, out, err = _finish(interrupted)
    assert code == REQUEUE_STATUS, out + err  # saved: a requeue wrapper runs it again
    message = next(line for line in out.splitlines() if line.startswith("interrupted by SIGTERM at step"))
    step = int(message.split(" at step ")[1].split(":")[0])
    assert step >= 2 and f"checkpoint {tmp_path / 'run' / 'checkpoints' / f'checkpoint-{step}'};" in message
    assert (tmp_path / "run" / "checkpoints" / f"checkpoint-{step}" / "model.safetensors").is_file()
    assert not (tmp_path / "run" / "model").exists()
    command = out.splitlines()[out.splitlines().index(message) + 1].strip()
    assert command.endswith("--resume") and f"--output-dir {tmp_path / 'run'}" in command

    resumed = subprocess.run(shlex.split(command), capture_output=True, text=True, env=ENV, timeout=400)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resumed from {tmp_path / 'run' / 'checkpoints' / f'checkpoint-{step}'}" in resumed.stdout
    code, out, err = _finish(straight)
    assert code == 0, out + err
    _same_weights(
        tmp_path / "straight" / "model" / "model.safetensors",
        tmp_path / "run" / "model" / "model.safetensors",
    )


def test_bad_inputs_are_one_line_errors_that_write_nothing(tiny_ucf_root, tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "notes.pth").write_text("not a checkpoint\n")
    wide = tmp_path / "wide"  # an r3d backbone twice as wide as the tiny method's
    AutoModel.from_config(AutoConfig.for_model("vssl-r3d", depth=10, width_multiplier=0.25)).save_pretrained(
        wide
    )
    (tmp_path / "finished" / "model").mkdir(parents=True)  # a run that exported its model
    convert = [sys.executable, str(TINY_CLI), "convert", "--from", "pace"]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]  # fmt: skip
    cases = {
        "empty pth": ([*convert, str(tmp_path / "empty.pth"), str(tmp_path / "out")], 2),
        "text pth": ([*convert, str(tmp_path / "notes.pth"), str(tmp_path / "out")], 2),
        "other width": (
            _pretrain_argv(tiny_ucf_root, tmp_path / "init", "--init-backbone-from", str(wide)),
            2,
        ),
        "used folder": (_pretrain_argv(tiny_ucf_root, tmp_path / "finished"), 2),
        "diverging lr": (
            _pretrain_argv(tiny_ucf_root, tmp_path / "nan", "--lr", "1e6", "--logging-steps", "100"),
            1,
        ),
        # accelerate's launcher reports its child's failure with a traceback of its own
        "cpu launch": ([*launch, *_pretrain_argv(tiny_ucf_root, tmp_path / "launch")[1:]], 1),
    }
    processes = {name: _start(argv) for name, (argv, _) in cases.items()}
    errors = {}
    for name, process in processes.items():
        code, out, err = _finish(process)
        ours = [line for line in err.splitlines() if line.startswith("hf-vssl ")]
        assert code == cases[name][1] and len(ours) == 1, f"{name}: exit {code}\n{out}\n{err}"
        assert name == "cpu launch" or "Traceback" not in err, f"{name}: {err}"
        errors[name] = ours[0]

    assert f"checkpoint file {tmp_path / 'empty.pth'} is empty (0 bytes)" in errors["empty pth"]
    assert f"{tmp_path / 'notes.pth'} is not a PyTorch checkpoint" in errors["text pth"]
    assert not (tmp_path / "out").exists()
    assert (
        "its backbone does not fit this model's (width_multiplier 0.25 there, 0.125 here;"
        in errors["other width"]
    )
    assert "stages.stem.conv1.weight: (16, 3, 7, 7, 7) there, (8, 3, 7, 7, 7) here" in errors["other width"]
    assert (
        f"{tmp_path / 'finished'} already holds a run (model): continue it with --resume"
        in errors["used folder"]
    )
    assert "training diverged: non-finite loss" in errors["diverging lr"] and "--skip-nonfinite-steps" in errors["diverging lr"]  # fmt: skip
    assert not (tmp_path / "nan" / "model").exists() and not (tmp_path / "init" / "model").exists()
    assert "accelerate launch --multi_gpu --num_processes N" in errors["cpu launch"]
    assert not (tmp_path / "launch" / "model").exists()


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")
    argv = [sys.executable, str(TINY_CLI), "convert", "--from", "pace", str(tmp_path / "empty.pth"), str(tmp_path / "out"), "--debug"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=400)
    assert done.returncode == 1 and "Traceback" in done.stderr and "is empty (0 bytes)" in done.stderr
