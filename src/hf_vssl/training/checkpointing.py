"""Resumable checkpoints: Accelerate's `save_state` plus where the run stood in the data.

`save_state` holds the model (with its buffers: queues, prototypes), the optimizer, the scheduler
and every process's RNG states; `trainer_state.json` beside it holds the epoch, how many batches
of that epoch were consumed (so a resumed run skips exactly those with `skip_first_batches`) and
the optimizer step count; `run.json` names the run the checkpoint belongs to (`run_dir.RunInfo`).

A checkpoint is written into `checkpoint-N.tmp` and renamed to `checkpoint-N` once complete, so a
run killed mid-write leaves no folder that looks like a checkpoint.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelerate import Accelerator

if TYPE_CHECKING:
    from .run_dir import RunInfo

STATE_FILE = "trainer_state.json"
RUN_FILE = "run.json"
CHECKPOINT_PREFIX = "checkpoint-"
PARTIAL_SUFFIX = ".tmp"
_CHECKPOINT_NAME = re.compile(rf"{CHECKPOINT_PREFIX}(\d+)")


@dataclass
class TrainerState:
    """epoch: the epoch in progress (0-based); batches_in_epoch: per-process batches of it already
    trained on; global_step: optimizer steps taken so far."""

    epoch: int = 0
    batches_in_epoch: int = 0
    global_step: int = 0


def read_run_file(folder: Path) -> dict[str, Any] | None:
    """{"run_id", "record"} of the run an output folder or checkpoint belongs to; None without one."""
    path = Path(folder) / RUN_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def write_run_file(folder: Path, run_id: str, record: dict[str, Any]) -> None:
    Path(folder).mkdir(parents=True, exist_ok=True)
    text = json.dumps({"run_id": run_id, "record": record}, indent=2, sort_keys=True)
    (Path(folder) / RUN_FILE).write_text(text + "\n")


def checkpoint_dir(output_dir: Path, global_step: int) -> Path:
    return Path(output_dir) / "checkpoints" / f"{CHECKPOINT_PREFIX}{global_step}"


def save_checkpoint(
    accelerator: Accelerator, output_dir: Path, state: TrainerState, keep: int, run: RunInfo
) -> Path:
    """Write a checkpoint of every process's state; keep the `keep` newest of this run (0 keeps all).
    Checkpoints of other runs in the folder are never deleted."""
    path = checkpoint_dir(output_dir, state.global_step)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    if accelerator.is_main_process:
        owner = read_run_file(path)
        if path.exists() and owner is not None and owner["run_id"] != run.run_id:
            raise FileExistsError(
                f"{path} is a checkpoint of another run ({owner['run_id']}); move it out of {output_dir}"
            )
        shutil.rmtree(partial, ignore_errors=True)  # the leftover of a killed write
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()  # every process's RNG file is in `partial`
    if accelerator.is_main_process:
        write_run_file(partial, run.run_id, run.record)
        (partial / STATE_FILE).write_text(json.dumps(asdict(state), indent=2) + "\n")
        if path.exists():  # an incomplete leftover or an older save of this run at this step
            remove_checkpoint(path)
        partial.rename(path)
        if keep > 0:
            for old in list_checkpoints(output_dir, run_id=run.run_id)[:-keep]:
                remove_checkpoint(old)
    accelerator.wait_for_everyone()
    return path


def remove_checkpoint(path: Path) -> None:
    """Delete a checkpoint, its completeness mark first: a kill mid-delete leaves an incomplete one."""
    (Path(path) / STATE_FILE).unlink(missing_ok=True)
    shutil.rmtree(path)


def list_checkpoints(output_dir: Path, run_id: str | None = None) -> list[Path]:
    """Complete checkpoints under `output_dir` (of run `run_id` only, when given), oldest first."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _CHECKPOINT_NAME.fullmatch(p.name) and (p / STATE_FILE).is_file()]
    if run_id is not None:
        found = [p for p in found if (read_run_file(p) or {}).get("run_id") == run_id]
    return sorted(found, key=lambda p: int(_CHECKPOINT_NAME.fullmatch(p.name).group(1)))


def resolve_resume(
    resume: str | Path | bool | None, output_dir: Path, run_id: str | None = None
) -> Path | None:
    """The checkpoint to resume from: a path, or with `True`/"latest" the newest one in `output_dir`
    (of run `run_id`, the folder's current run, when given)."""
    if resume in (None, False, ""):
        return None
    if resume in (True, "latest"):
        checkpoints = list_checkpoints(output_dir, run_id)
        if not checkpoints:
            raise FileNotFoundError(
                f"--resume: no checkpoint{' of the current run' if run_id else ''} under "
                f"{Path(output_dir) / 'checkpoints'} to resume from"
            )
        return checkpoints[-1]
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"--resume: {path} is not a checkpoint folder (no {STATE_FILE} in it)")
    return path


def load_checkpoint(accelerator: Accelerator, path: Path) -> TrainerState:
    """Restore every prepared object and RNG from `path`; return where the run stood."""
    accelerator.load_state(str(path))
    return TrainerState(**json.loads((Path(path) / STATE_FILE).read_text()))
