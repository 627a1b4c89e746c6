"""`--resume auto` and the stop a scheduler asks for: one command starts, continues or leaves alone the
run in its folder; SIGTERM / SIGUSR1 exit with the requeue status and a repeated delivery does not kill
the save; the printed resume command fits the way the run was launched."""

from __future__ import annotations

import json
import shlex
import signal

import pytest

from hf_vssl.training.checkpointing import STATE_FILE, read_run_file, write_run_file
from hf_vssl.training.interrupts import (
    REQUEUE_STATUS,
    SIGNALS,
    InterruptGuard,
    exit_status,
    resume_command,
)
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


def test_a_repeated_scheduler_signal_is_recorded_once_and_a_ctrl_c_on_top_ends_the_run_at_once():
    assert signal.SIGUSR1 in SIGNALS  # else the signals below would end this test process
    with InterruptGuard() as guard:
        for signum in (signal.SIGUSR1, signal.SIGTERM, signal.SIGUSR1):  # from Slurm, then the launcher
            signal.raise_signal(signum)
        assert guard.requested() == signal.SIGUSR1  # still running: the save would go on
        with pytest.raises(KeyboardInterrupt):  # a Ctrl-C on top: what it does without the guard
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_resume_command_fits_the_launch():
    argv = shlex.split("/venv/bin/hf-vssl pretrain --output-dir runs/a --resume auto --save-steps 2")
    expected = "hf-vssl pretrain --output-dir runs/a --save-steps 2 --resume"
    assert resume_command(argv) == expected
    # the demo overwrites its pretraining by itself (and has no --resume): no command continues it
    demo = shlex.split("/venv/bin/hf-vssl demo --output-dir outputs/demo --epochs 2")
    assert resume_command(demo, overwrote=True) is None
    assert resume_command([*argv, "--overwrite"], overwrote=True) == expected
    # 2 machines x 2 processes: accelerate's multi-machine launch, each machine with its own rank
    environ = {"LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}
    command = resume_command(argv, num_processes=4, environ=environ)
    assert command == (
        "accelerate launch --multi_gpu --num_machines 2 --machine_rank MACHINE_RANK --main_process_ip 10.0.0.1 "
        "--main_process_port 29500 --num_processes 4 -m hf_vssl.cli.main pretrain --output-dir runs/a "
        "--save-steps 2 --resume"
    )
