"""Ctrl-C (SIGINT), SIGTERM (what schedulers send before killing a job) and SIGUSR1 (Slurm's
`--signal=USR1@SECONDS` warning before a job's time limit) end a run cleanly: the training loop
finishes the optimizer step in progress, saves a checkpoint, prints the command that resumes it and
exits.

Exit status: 75 (`REQUEUE_STATUS`, sysexits' EX_TEMPFAIL, "temporary failure, retry") after SIGTERM or
SIGUSR1, so a requeue wrapper tells "checkpoint saved, run me again" from a failure (1 or 2) and from a
plain death by the signal (128 + signal); 130 after Ctrl-C, as a shell reports an interrupted command.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import torch
import torch.distributed as dist

from ..nn.distributed import is_distributed

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
REQUEUE_STATUS = os.EX_TEMPFAIL  # 75: the checkpoint is saved, the same command continues the run


def exit_status(signum: int) -> int:
    """The exit status of a run stopped by `signum` after its checkpoint was saved."""
    return 128 + signum if signum == signal.SIGINT else REQUEUE_STATUS


class TrainingInterrupted(SystemExit):
    """The run stopped on a signal after saving `checkpoint`; the exit status is `exit_status(signum)`."""

    def __init__(self, signum: int, checkpoint: Path) -> None:
        super().__init__(exit_status(signum))
        self.signum, self.checkpoint = signum, checkpoint


class InterruptGuard:
    """Catch SIGINT / SIGTERM / SIGUSR1 while installed: the first one is only recorded (the loop polls
    `requested()`). A second SIGINT ends the process at once, as without the guard (a user pressing
    Ctrl-C again); a later SIGTERM / SIGUSR1 is ignored: schedulers and launchers deliver one more than
    once (Slurm signals every process of a job step, which `accelerate launch` signals again), and one
    that means it follows with SIGKILL.

    A process forked while the guard is installed ignores the signal (the training DataLoader's
    workers also do so by `ignore_interrupts`): one sent to the whole process group (Ctrl-C, a
    scheduler) must not kill them under the loop's feet.
    """

    def __init__(self) -> None:
        self.signum = 0
        self._pid = os.getpid()
        self._previous: dict[int, object] = {}
        self._group: object | None = None

    def __enter__(self) -> InterruptGuard:
        self._pid = os.getpid()
        if threading.current_thread() is threading.main_thread():  # signal handlers live there only
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:  # a forked DataLoader worker
            return
        if self.signum and signum == signal.SIGINT:  # Ctrl-C again: what it does without the guard
            self.__exit__()
            signal.raise_signal(signum)
            return
        self.signum = self.signum or signum

    def requested(self) -> int:
        """The signal number if any process got one, else 0: every process agrees, so all of them
        stop at the same step. Over several processes this is one all-reduce of an int on the CPU
        (a gloo group), with no device synchronisation."""
        if not is_distributed():
            return self.signum
        if self._group is None:
            self._group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD
        flag = torch.tensor([self.signum], dtype=torch.int32)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._group)
        return int(flag.item())


def ignore_interrupts(worker_id: int) -> None:
    """`worker_init_fn` of the training DataLoader: its workers leave the `SIGNALS` to the loop
    (torch's own SIGTERM handler would kill a worker mid-epoch, and the loop with it); they end when
    the loop does."""
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def resume_command(
    argv: list[str] | None = None,
    num_processes: int = 1,
    overwrote: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> str | None:
    """The command line that continues this run: the one that started it with `--resume` (and no
    `--overwrite`); over several machines, accelerate's multi-machine launch, which each machine runs
    with its own rank. For a run not started from the command line, the Python equivalent. None for a
    run started with `overwrote` by a command line without `--overwrite`: the command starts its run
    over by itself (the demo), so no command of it continues the run."""
    argv = list(sys.argv if argv is None else argv)
    if not any(a == "--output-dir" or a.startswith("--output-dir=") for a in argv[1:]):
        return "fit(..., TrainingArguments(..., resume=True))"
    if overwrote and "--overwrite" not in argv:
        return None
    args = []
    skip_value = False
    for arg in argv[1:]:
        if skip_value:
            skip_value = False
            if not arg.startswith("-"):
                continue
        if arg == "--resume":
            skip_value = True  # its optional value: a checkpoint folder, "latest" or "auto"
            continue
        if arg.startswith("--resume=") or arg == "--overwrite":
            continue
        args.append(arg)
    program = _program(argv[0])
    if num_processes > 1:  # accelerate runs a script or a module (-m); `--multi_gpu` also on CPUs
        script = program[1:] if program[0] == sys.executable else ["-m", "hf_vssl.cli.main"]
        program = ["accelerate", "launch", "--multi_gpu", *_machines(num_processes, environ)]
        program += ["--num_processes", str(num_processes), *script]
    return shlex.join([*program, *args, "--resume"])


def _machines(num_processes: int, environ: Mapping[str, str]) -> list[str]:
    """accelerate's multi-machine options when the run's processes span several machines (torchrun
    exports LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT to each); MACHINE_RANK stands for each
    machine's own rank."""
    machines = num_processes // int(environ.get("LOCAL_WORLD_SIZE", num_processes))
    if machines <= 1:
        return []
    return [
        "--num_machines", str(machines), "--machine_rank", "MACHINE_RANK",
        "--main_process_ip", environ["MASTER_ADDR"], "--main_process_port", environ["MASTER_PORT"],
    ]  # fmt: skip


def _program(argv0: str) -> list[str]:
    """How the process was started: `hf-vssl`, `python -m hf_vssl.cli.<command>` or `python script.py`."""
    path = Path(argv0)
    if path.suffix != ".py":
        return [path.name]  # a console script (hf-vssl) on the PATH
    package = Path(__file__).resolve().parents[1]
    if path.resolve().is_relative_to(package):
        module = path.resolve().relative_to(package.parent).with_suffix("")
        return [sys.executable, "-m", ".".join(module.parts)]
    return [sys.executable, argv0]
