"""Multi-machine launches and the requeue cycle through real processes: two `accelerate launch`
"machines" on loopback (gloo, one process each) train to the weights of one machine with two
processes, also across a SIGUSR1 (Slurm's `--signal=USR1@SECONDS` warning) that reaches one machine's
launcher only and the same commands run again; the Slurm example requeues itself on the warning and
leaves the finished run alone. (The logic: tests/training/test_requeue.py; SIGTERM's requeue status
in one process: tests/cli/test_run_safety_cli.py.)"""

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


SBATCH = Path(__file__).parents[2] / "examples" / "slurm" / "pretrain.sbatch"
# Slurm's commands for a two-node job on this one machine (only Slurm is stood in for)
SLURM_SHIMS = {
    # the task once per "node", each with its SLURM_NODEID; the exit status of the last one that failed
    "srun": """#!/bin/bash
echo $$ > "$SHIM_DIR/srun.pid"
while [[ $1 == --* ]]; do shift; done
pids=()
for node in 0 1; do SLURM_NODEID=$node "$@" & pids+=($!); done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
""",
    # scancel --signal=USR1 JOB: the signal to the step's tasks (each node's launcher)
    "scancel": """#!/bin/bash
pkill -USR1 -P "$(cat "$SHIM_DIR/srun.pid")"
""",
    "scontrol": """#!/bin/bash
case $1 in
    show) echo 127.0.0.1 ;;
    requeue) echo "$2" >> "$SHIM_DIR/requeued" ;;
esac
""",
}
# Pace with the smallest C3D, as the fault benchmark runs it
PACE = [
    "--method", "pace", "--backbone", "c3d", "--backbone-config", "width_multiplier=0.125",
    "--set", "num_frames=8", "--set", "crop_size=32", "--set", "frame_size=[40,50]", "--batch-size", "8",
    "--max-steps", "4", "--save-steps", "2", "--num-workers", "0", "--logging-steps", "1",
    "--no-progress-bar", "--mixed-precision", "no",
]  # fmt: skip


@pytest.mark.slow
def test_the_slurm_example_requeues_itself_on_the_warning_until_the_run_is_finished(tiny_ucf_root, tmp_path):
    shims = tmp_path / "bin"
    shims.mkdir()
    for name, text in SLURM_SHIMS.items():
        (shims / name).write_text(text)
        (shims / name).chmod(0o755)
    env = {
        **ENV, "PATH": f"{shims}:{Path(sys.executable).parent}:{os.environ['PATH']}", "SHIM_DIR": str(shims),
        "SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "node[1-2]", "SLURM_NNODES": "2",
        "SLURM_GPUS_ON_NODE": "1", "MAIN_PROCESS_PORT": str(_free_port()),
    }  # fmt: skip
    run = tmp_path / "run"
    job = ["bash", str(SBATCH), *PACE, "--dataset", str(tiny_ucf_root), "--output-dir", str(run)]
    first = _start(job, env)
    _wait_for(run / "checkpoints" / "checkpoint-2", [first])
    os.kill(first.pid, signal.SIGUSR1)  # --signal=B:USR1: the batch shell only
    code, out, err = _finish(first)
    assert code == 0 and (shims / "requeued").read_text() == "4242\n", out[-3000:] + err[-3000:]
    assert "interrupted by SIGUSR1 at step" in out and not (run / "model").exists()

    env["SLURM_RESTART_COUNT"] = "1"
    code, out, err = _finish(_start(job, env))  # the requeued job: the same script and options
    assert code == 0 and "resumed from" in out, out[-3000:] + err[-3000:]
    assert (run / "model" / "model.safetensors").is_file()
    code, out, err = _finish(_start(job, env))  # requeued once more: the run is finished
    assert code == 0 and f"--resume auto: the run in {run} is finished" in out, out[-3000:] + err[-3000:]
    assert (shims / "requeued").read_text() == "4242\n"  # requeued once only
