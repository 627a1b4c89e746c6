"""The requeue cycle and multi-machine launches through real processes: a scheduler's SIGUSR1 (Slurm's
`--signal=USR1@SECONDS` warning) saves a checkpoint and exits with the requeue status, and the same
command, run again, continues to the weights of an uninterrupted run, then leaves the finished run
alone; two `accelerate launch` "machines" on loopback (gloo, one process each) train to the weights
of one machine with two processes, also across a SIGUSR1 that reaches one machine's launcher only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hf_vssl.training.interrupts import REQUEUE_STATUS

TINY_CLI = Path(__file__).parents[1] / "cli" / "tiny_cli.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
# torchrun's --signals-to-handle, read by accelerate launch from the environment: with SIGUSR1 in it
# the launcher passes the signal on to its processes instead of dying of it (examples/slurm/)
LAUNCH_ENV = {**ENV, "PET_SIGNALS_TO_HANDLE": "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1"}
LAUNCH = [
    sys.executable, "-m", "accelerate.commands.launch", "--mixed_precision", "no", "--dynamo_backend", "no",
    "--multi_gpu", "--num_processes", "2",
]  # fmt: skip


def _pretrain_args(root: Path, output_dir: Path, max_steps: int) -> list[str]:
    return [
        "pretrain", "--method", "tiny-contrast", "--dataset", str(root), "--output-dir", str(output_dir),
        "--num-workers", "0", "--epochs", "2", "--max-steps", str(max_steps), "--save-steps", "2",
        "--logging-steps", "1", "--no-progress-bar", "--resume", "auto",
    ]  # fmt: skip


def _start(argv: list[str], env: dict[str, str] = ENV) -> subprocess.Popen:
    # a session of its own: a signal to the process group reaches every process of the run, as Slurm's
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)  # fmt: skip


def _finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=400)
    return process.returncode, out, err


def _wait_for(path: Path, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 300
    while not path.is_dir() and time.monotonic() < deadline:
        assert all(p.poll() is None for p in processes), [_finish(p) for p in processes]
        time.sleep(0.05)


def _same_weights(a: Path, b: Path) -> None:
    expected, actual = (
        load_file(a / "model" / "model.safetensors"),
        load_file(b / "model" / "model.safetensors"),
    )
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


def test_sigusr1_then_the_same_command_continues_exactly_and_then_leaves_the_finished_run_alone(
    tiny_ucf_root, tmp_path
):
    def command(output_dir: Path) -> list[str]:
        return [sys.executable, str(TINY_CLI), *_pretrain_args(tiny_ucf_root, output_dir, max_steps=4)]

    straight = _start(command(tmp_path / "straight"))  # --resume auto in an empty folder: a new run
    run = tmp_path / "run"
    interrupted = _start(command(run))
    _wait_for(run / "checkpoints" / "checkpoint-2", [interrupted])
    os.killpg(interrupted.pid, signal.SIGUSR1)
    code, out, err = _finish(interrupted)
    assert code == REQUEUE_STATUS, out + err
    step = int(out.split("interrupted by SIGUSR1 at step ")[1].split(":")[0])
    assert (run / "checkpoints" / f"checkpoint-{step}" / "model.safetensors").is_file()
    assert not (run / "model").exists()

    requeued = subprocess.run(command(run), capture_output=True, text=True, env=ENV, timeout=400)
    assert requeued.returncode == 0, requeued.stdout + requeued.stderr
    assert f"resumed from {run / 'checkpoints' / f'checkpoint-{step}'}" in requeued.stdout
    code, out, err = _finish(straight)
    assert code == 0, out + err
    _same_weights(tmp_path / "straight", run)

    weights = run / "model" / "model.safetensors"
    written = weights.stat().st_mtime_ns
    again = subprocess.run(command(run), capture_output=True, text=True, env=ENV, timeout=400)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"--resume auto: the run in {run} is finished" in again.stdout
    assert weights.stat().st_mtime_ns == written  # nothing rewritten


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _machines(root: Path, output_dir: Path, port: int) -> list[subprocess.Popen]:
    """The same run launched on two "machines" of one process each, as each node of a job launches it."""
    machines = []
    for rank in (0, 1):
        multi_machine = [
            "--num_machines", "2", "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1",
            "--main_process_port", str(port),
        ]  # fmt: skip
        argv = [*LAUNCH, *multi_machine, str(TINY_CLI), *_pretrain_args(root, output_dir, max_steps=4)]
        machines.append(_start(argv, LAUNCH_ENV))
    return machines


@pytest.fixture(scope="module")
def one_machine(tiny_ucf_root, tmp_path_factory) -> Path:
    """The run on one machine with two processes."""
    output_dir = tmp_path_factory.mktemp("one_machine")
    argv = [*LAUNCH, "--num_machines", "1", "--main_process_port", "0", str(TINY_CLI)]
    code, out, err = _finish(_start([*argv, *_pretrain_args(tiny_ucf_root, output_dir, max_steps=4)]))
    assert code == 0, out[-3000:] + err[-3000:]
    return output_dir


@pytest.mark.slow
def test_two_machines_on_loopback_train_to_the_weights_of_one_machine(tiny_ucf_root, tmp_path, one_machine):
    machines = _machines(tiny_ucf_root, tmp_path, _free_port())
    for machine in machines:
        code, out, err = _finish(machine)
        assert code == 0, out[-3000:] + err[-3000:]
    _same_weights(one_machine, tmp_path)


@pytest.mark.slow
def test_sigusr1_to_one_machines_launcher_stops_every_rank_and_the_same_commands_continue(
    tiny_ucf_root, tmp_path, one_machine
):
    machines = _machines(tiny_ucf_root, tmp_path, _free_port())
    _wait_for(tmp_path / "checkpoints" / "checkpoint-2", machines)
    os.kill(machines[1].pid, signal.SIGUSR1)  # machine 1's launcher only: rank 1 gets it from there
    _, out, _ = _finish(machines[0])
    _finish(machines[1])
    step = int(out.split("interrupted by SIGUSR1 at step ")[1].split(":")[0])  # rank 0 stopped too
    assert step < 4 and (tmp_path / "checkpoints" / f"checkpoint-{step}" / "model.safetensors").is_file()
    assert not (tmp_path / "model").exists()

    requeued = _machines(tiny_ucf_root, tmp_path, _free_port())
    for machine in requeued:
        code, out, err = _finish(machine)
        assert code == 0, out[-3000:] + err[-3000:]
    _same_weights(one_machine, tmp_path)
