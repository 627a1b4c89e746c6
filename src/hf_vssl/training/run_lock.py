"""One run at a time in an output folder: an advisory lock (`fcntl.flock`) on `OUTPUT_DIR/run.lock`,
held by the process that prepared the folder until it exits.

The kernel drops the lock when its holder dies (kill -9 included), so a lock file whose process is
gone is taken over; the file names the holder's process id and host for the refusal message, and a
holder that ends normally empties it (so a note on takeover means the previous holder died).
A process that already holds the lock of a folder (a resume in the same Python session) keeps it.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import IO

LOCK_FILE = "run.lock"

_held: dict[Path, IO[str]] = {}  # folder -> the open lock file of this process


class RunFolderLocked(FileExistsError):
    """Another process is running in the output folder."""


def lock_run_folder(output_dir: Path) -> None:
    """Take the lock of `output_dir` for this process's life; refuse when another live process holds it."""
    folder = Path(output_dir).resolve()
    if folder in _held:
        return
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    file = open(path, "a+")  # noqa: SIM115  (held open until the process ends)
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(path)
        file.close()
        raise RunFolderLocked(
            f"{folder} is in use by process {holder.get('pid', '?')} on {holder.get('host', '?')} "
            f"(lock {path}); wait for that run to end, stop it, or choose another --output-dir"
        ) from None
    previous = _read_holder(path)
    if previous.get("pid") not in (None, os.getpid()):
        print(f"note: took over {path} from process {previous['pid']}, which ended without releasing it")
    file.seek(0)
    file.truncate()
    file.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n")
    file.flush()
    _held[folder] = file


@atexit.register
def _release_all() -> None:
    """A normal end empties the lock files: the next run starts without a takeover note."""
    for file in _held.values():
        file.truncate(0)
        file.close()
    _held.clear()


def _read_holder(path: Path) -> dict[str, object]:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}
