"""`--resume auto` and the stop a scheduler asks for: one command starts, continues or leaves alone the
run in its folder; SIGTERM / SIGUSR1 exit with the requeue status and a repeated delivery does not kill
the save; the printed resume command fits the way the run was launched."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import textwrap

import pytest

from hf_vssl.training.checkpointing import STATE_FILE, read_run_file, write_run_file
from hf_vssl.training.interrupts import REQUEUE_STATUS, exit_status, resume_command
from hf_vssl.training.run_dir import RESUME_AUTO, RunFinished, prepare_output_dir

RECORD = {"model": "Tiny", "recipe": {"learning_rate": 0.05}, "seed": 0}


def _checkpoint(output_dir, step: int) -> None:
    """A checkpoint folder as `save_checkpoint` leaves it (its state and run files; no manifest)."""
    path = output_dir / "checkpoints" / f"checkpoint-{step}"
    write_run_file(path, read_run_file(output_dir)["run_id"], RECORD)
    (path / STATE_FILE).write_text(json.dumps({"epoch": 0, "batches_in_epoch": step, "global_step": step}))


def test_resume_auto_starts_continues_then_leaves_a_finished_run_alone(tmp_path, capsys):
    first = prepare_output_dir(tmp_path, resume=RESUME_AUTO, overwrite=False, run_record=RECORD)
    assert first.resume_from is None  # an empty folder: a new run
    again = prepare_output_dir(tmp_path, resume=RESUME_AUTO, overwrite=False, run_record=RECORD)
    assert again.resume_from is None  # killed before its first checkpoint: nothing to continue
    _checkpoint(tmp_path, 2)
    _checkpoint(tmp_path, 4)
    resumed = prepare_output_dir(tmp_path, resume=RESUME_AUTO, overwrite=False, run_record=RECORD)
    assert resumed.resume_from == tmp_path / "checkpoints" / "checkpoint-4"
    assert resumed.run_id == read_run_file(tmp_path / "checkpoints" / "checkpoint-4")["run_id"]

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.safetensors").write_bytes(b"weights")
    capsys.readouterr()
    with pytest.raises(RunFinished) as finished:
        prepare_output_dir(tmp_path, resume=RESUME_AUTO, overwrite=False, run_record=RECORD)
    assert finished.value.code == 0
    assert capsys.readouterr().out == (
        f"--resume auto: the run in {tmp_path} is finished (checkpoints, model); nothing to do\n"
    )
    assert (tmp_path / "model" / "model.safetensors").read_bytes() == b"weights"
    assert len(list((tmp_path / "checkpoints").iterdir())) == 2


@pytest.mark.parametrize("finished", [False, True])
def test_resume_auto_refuses_another_recipes_run_in_one_line(tmp_path, finished):
    prepare_output_dir(tmp_path, resume=RESUME_AUTO, overwrite=False, run_record=RECORD)
    _checkpoint(tmp_path, 2)
    if finished:
        (tmp_path / "model").mkdir()
    other = {**RECORD, "recipe": {"learning_rate": 0.2}}
    with pytest.raises(ValueError, match=r"is of another run; checkpoint -> now: ") as error:
        prepare_output_dir(tmp_path, resume=RESUME_AUTO, overwrite=False, run_record=other)
    assert "recipe.learning_rate: 0.05 -> 0.2" in str(error.value) and "\n" not in str(error.value)


def test_a_scheduler_stop_exits_with_the_requeue_status_and_ctrl_c_with_130():
    assert REQUEUE_STATUS == 75  # sysexits' EX_TEMPFAIL: "temporary failure, retry"
    assert exit_status(signal.SIGTERM) == exit_status(signal.SIGUSR1) == REQUEUE_STATUS
    assert exit_status(signal.SIGINT) == 130


def test_a_repeated_scheduler_signal_is_recorded_once_and_a_second_ctrl_c_still_ends_the_process():
    script = textwrap.dedent("""
        import os, signal
        from hf_vssl.training.interrupts import InterruptGuard
        with InterruptGuard() as guard:
            for signum in (signal.SIGUSR1, signal.SIGTERM, signal.SIGUSR1):  # Slurm, then the launcher
                os.kill(os.getpid(), signum)
            print("alive", guard.requested(), flush=True)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C twice: what it does without the guard
            print("not reached", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout == f"alive {int(signal.SIGUSR1)}\n", done.stdout + done.stderr
    assert "KeyboardInterrupt" in done.stderr and done.returncode == -signal.SIGINT


def test_the_resume_command_fits_the_launch():
    argv = shlex.split("/venv/bin/hf-vssl pretrain --output-dir runs/a --resume auto --save-steps 2")
    expected = "hf-vssl pretrain --output-dir runs/a --save-steps 2 --resume"
    assert resume_command(argv, output_dir="runs/a") == expected
    # the demo trains in a subfolder of its --output-dir and has no --resume: no command continues it
    demo = shlex.split("/venv/bin/hf-vssl demo --output-dir outputs/demo --epochs 2")
    assert resume_command(demo, output_dir="outputs/demo/pretrain") is None
    # 2 machines x 2 processes: accelerate's multi-machine launch, each machine with its own rank
    environ = {"LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}
    command = resume_command(argv, num_processes=4, output_dir="runs/a", environ=environ)
    assert command == (
        "accelerate launch --multi_gpu --num_machines 2 --machine_rank MACHINE_RANK --main_process_ip 10.0.0.1 "
        "--main_process_port 29500 --num_processes 4 -m hf_vssl.cli.main pretrain --output-dir runs/a "
        "--save-steps 2 --resume"
    )
