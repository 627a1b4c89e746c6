"""Ctrl-C (SIGINT) and SIGTERM (what schedulers send before killing a job) end a run cleanly: the
training loop finishes the optimizer step in progress, saves a checkpoint, prints the command that
resumes it, and exits with the signal's code (130 / 143)."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import torch
import torch.distributed as dist

from ..nn.distributed import is_distributed

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(SystemExit):
    """The run stopped on a signal after saving `checkpoint`; the process exit code is 128 + signal."""

    def __init__(self, signum: int, checkpoint: Path) -> None:
        super().__init__(128 + signum)
        self.signum, self.checkpoint = signum, checkpoint


class InterruptGuard:
    """Catch SIGINT / SIGTERM while installed: the first one is only recorded (the loop polls
    `requested()`); a second one ends the process at once, as without the guard.

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
        if self.signum:  # a second signal: what it does without the guard
            self.__exit__()
            signal.raise_signal(signum)
            return
        self.signum = signum

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
    """`worker_init_fn` of the training DataLoader: its workers leave SIGINT / SIGTERM to the loop
    (torch's own SIGTERM handler would kill a worker mid-epoch, and the loop with it); they end when
    the loop does."""
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def resume_command(argv: list[str] | None = None, num_processes: int = 1) -> str:
    """The command line that continues this run: the one that started it with `--resume` (and no
    `--overwrite`). For a run not started from the command line, the Python equivalent."""
    argv = list(sys.argv if argv is None else argv)
    if not any(a == "--output-dir" or a.startswith("--output-dir=") for a in argv[1:]):
        return "fit(..., TrainingArguments(..., resume=True))"
    args = []
    skip_value = False
    for arg in argv[1:]:
        if skip_value:
            skip_value = False
            if not arg.startswith("-"):
                continue
        if arg == "--resume":
            skip_value = True  # its optional value: a checkpoint folder
            continue
        if arg.startswith("--resume=") or arg == "--overwrite":
            continue
        args.append(arg)
    program = _program(argv[0])
    if num_processes > 1:  # accelerate runs a script or a module (-m); `--multi_gpu` also on CPUs
        script = program[1:] if program[0] == sys.executable else ["-m", "hf_vssl.cli.main"]
        program = ["accelerate", "launch", "--multi_gpu", "--num_processes", str(num_processes), *script]
    return shlex.join([*program, *args, "--resume"])


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
