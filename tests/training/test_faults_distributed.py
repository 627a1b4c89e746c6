"""A dead process in a two-process gloo run: the survivor does not hang, it exits naming the lost
rank and the command that resumes the run, and that command ends with the weights of an
uninterrupted run.

The two ranks are started one by one with the torch.distributed environment (as `srun` starts the
tasks of a job): under `accelerate launch` / torchrun the launcher itself would kill the survivor."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

TINY_CLI = Path(__file__).parents[1] / "cli" / "tiny_cli.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
LAUNCH = [
    sys.executable, "-m", "accelerate.commands.launch", "--main_process_port", "0", "--num_machines", "1",
    "--mixed_precision", "no", "--dynamo_backend", "no",
]  # fmt: skip


def _pretrain_args(root: Path, output_dir: Path) -> list[str]:
    return [
        "pretrain", "--method", "tiny-contrast", "--dataset", str(root), "--output-dir", str(output_dir),
        "--num-workers", "0", "--epochs", "2", "--max-steps", "5", "--save-steps", "1",
        "--logging-steps", "1", "--no-progress-bar", "--ddp-timeout", "60",
    ]  # fmt: skip


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_rank(rank: int, port: int, argv: list[str]) -> subprocess.Popen:
    env = {**ENV, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"}
    env |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    return subprocess.Popen(
        [sys.executable, str(TINY_CLI), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, start_new_session=True,
    )  # fmt: skip


@pytest.mark.slow
def test_a_killed_rank_stops_the_other_in_one_line_and_resume_ends_as_an_uninterrupted_run(
    tiny_ucf_root, tmp_path
):
    straight = subprocess.Popen(
        [*LAUNCH, "--multi_gpu", "--num_processes", "2", str(TINY_CLI), *_pretrain_args(tiny_ucf_root, tmp_path / "straight")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    port, run = _free_port(), tmp_path / "run"
    ranks = [_start_rank(rank, port, _pretrain_args(tiny_ucf_root, run)) for rank in (0, 1)]
    deadline = time.monotonic() + 300
    while not (run / "checkpoints" / "checkpoint-2").is_dir() and time.monotonic() < deadline:
        assert ranks[0].poll() is None, ranks[0].communicate()
        time.sleep(0.05)
    os.killpg(ranks[1].pid, signal.SIGKILL)
    killed = time.monotonic()
    out, err = ranks[0].communicate(timeout=120)  # no hang
    ranks[1].wait()
    assert ranks[0].returncode != 0 and time.monotonic() - killed < 60
    ours = [line for line in err.splitlines() if line.startswith("hf-vssl pretrain: error: ")]
    assert len(ours) == 1 and "Traceback" not in err, out + err
    assert "process group lost rank 1 (" in ours[0] and "is kept; resume with: accelerate launch" in ours[0]
    command = shlex.split(ours[0].split("resume with: ")[1].split(" (--debug")[0])
    assert command[:5] == ["accelerate", "launch", "--multi_gpu", "--num_processes", "2"]
    assert command[-1] == "--resume" and command[5] == str(TINY_CLI)

    resumed = subprocess.run([*LAUNCH, *command[2:]], capture_output=True, text=True, env=ENV, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"resumed from {run / 'checkpoints' / 'checkpoint-'}" in resumed.stdout
    out, err = straight.communicate(timeout=300)
    assert straight.returncode == 0, out[-3000:] + err[-3000:]
    expected = load_file(tmp_path / "straight" / "model" / "model.safetensors")
    actual = load_file(run / "model" / "model.safetensors")
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name
