"""Resumable checkpoints: Accelerate's `save_state` plus where the run stood in the data.

`save_state` holds the model (with its buffers: queues, prototypes), the optimizer, the scheduler
and every process's RNG states; `trainer_state.json` beside it holds the epoch, how many batches
of that epoch were consumed (so a resumed run skips exactly those with `skip_first_batches`) and
the optimizer step count.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from accelerate import Accelerator

STATE_FILE = "trainer_state.json"
CHECKPOINT_PREFIX = "checkpoint-"


@dataclass
class TrainerState:
    """epoch: the epoch in progress (0-based); batches_in_epoch: per-process batches of it already
    trained on; global_step: optimizer steps taken so far."""

    epoch: int = 0
    batches_in_epoch: int = 0
    global_step: int = 0


def checkpoint_dir(output_dir: Path, global_step: int) -> Path:
    return Path(output_dir) / "checkpoints" / f"{CHECKPOINT_PREFIX}{global_step}"


def save_checkpoint(accelerator: Accelerator, output_dir: Path, state: TrainerState, keep: int) -> Path:
    """Write a checkpoint of every process's state; keep the `keep` newest (0 keeps all)."""
    path = checkpoint_dir(output_dir, state.global_step)
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        (path / STATE_FILE).write_text(json.dumps(asdict(state), indent=2) + "\n")
        if keep > 0:
            for old in list_checkpoints(output_dir)[:-keep]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return path


def list_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints under `output_dir`, oldest first."""
    root = Path(output_dir) / "checkpoints"
    found = (
        [p for p in root.glob(f"{CHECKPOINT_PREFIX}*") if (p / STATE_FILE).is_file()] if root.is_dir() else []
    )
    return sorted(found, key=lambda p: int(re.sub(r"\D", "", p.name) or 0))


def resolve_resume(resume: str | Path | bool | None, output_dir: Path) -> Path | None:
    """The checkpoint to resume from: a path, or with `True`/"latest" the newest one in `output_dir`."""
    if resume in (None, False, ""):
        return None
    if resume in (True, "latest"):
        checkpoints = list_checkpoints(output_dir)
        if not checkpoints:
            raise FileNotFoundError(
                f"--resume: no checkpoint under {Path(output_dir) / 'checkpoints'} to resume from"
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
