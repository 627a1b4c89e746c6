"""Resumable checkpoints: Accelerate's `save_state` plus where the run stood in the data.

`save_state` holds the model (with its buffers: queues, prototypes), the optimizer, the scheduler
and every process's RNG states; `trainer_state.json` beside it holds the epoch, how many batches
of that epoch were consumed (so a resumed run skips exactly those with `skip_first_batches`) and
the optimizer step count; `run.json` names the run the checkpoint belongs to (`run_dir.RunInfo`).

A checkpoint is written into `checkpoint-N.tmp` and renamed to `checkpoint-N` once complete, so a
run killed mid-write (or a write that fails: a full disk) leaves no folder that looks like a
checkpoint. `manifest.json`, written last, records every file's size and SHA-256: `--resume` checks
them and falls back to the newest intact checkpoint when a file was truncated, altered or deleted.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from accelerate import Accelerator

STATE_FILE = "trainer_state.json"
RUN_FILE = "run.json"
MANIFEST_FILE = "manifest.json"
CHECKPOINT_PREFIX = "checkpoint-"
PARTIAL_SUFFIX = ".tmp"
_CHECKPOINT_NAME = re.compile(rf"{CHECKPOINT_PREFIX}(\d+)")


@dataclass(frozen=True)
class RunInfo:
    """run_id: names the run's checkpoints; record: what must not change across a resume;
    resume_from: the checkpoint to continue from, None for a new run (`run_dir.prepare_output_dir`)."""

    run_id: str
    record: dict[str, Any]
    resume_from: Path | None = None


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


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (a full disk, a quota, a file size limit); the checkpoints
    written before it are untouched."""


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
    try:
        accelerator.save_state(str(partial))  # writes files only: no collective to tell apart
    # any failure of the write (OSError, torch's and safetensors' writer errors) leaves `partial` unfinished
    except Exception as err:
        raise _write_failed(accelerator, partial, path, run, err) from err
    accelerator.wait_for_everyone()  # every process's RNG file is in `partial`
    if accelerator.is_main_process:
        try:
            write_run_file(partial, run.run_id, run.record)
            (partial / STATE_FILE).write_text(json.dumps(asdict(state), indent=2) + "\n")
            write_manifest(partial)
        except OSError as err:
            raise _write_failed(accelerator, partial, path, run, err) from err
        if path.exists():  # an incomplete leftover or an older save of this run at this step
            remove_checkpoint(path)
        partial.rename(path)
        if keep > 0:
            for old in list_checkpoints(output_dir, run_id=run.run_id)[:-keep]:
                remove_checkpoint(old)
    accelerator.wait_for_everyone()
    return path


def _write_failed(
    accelerator: Accelerator, partial: Path, path: Path, run: RunInfo, err: Exception
) -> CheckpointWriteError:
    """The one-line error of a failed write, once the unfinished folder is deleted: the folder, the
    size a checkpoint of this run takes and the space left, the checkpoint a resume starts from."""
    shutil.rmtree(partial, ignore_errors=True)
    previous = list_checkpoints(path.parents[1], run_id=run.run_id)
    needed = folder_bytes(previous[-1]) if previous else _state_bytes(accelerator)
    free = shutil.disk_usage(path.parent).free if path.parent.exists() else 0
    reason = " ".join(str(err).split()) or type(err).__name__
    resume = f"--resume continues from {previous[-1]}" if previous else "no checkpoint was written yet"
    return CheckpointWriteError(
        f"cannot write checkpoint {path.name} into {path.parent} ({reason}): a checkpoint of this run "
        f"needs about {needed / 2**20:.1f} MiB, {free / 2**20:.1f} MiB are free there. Nothing saved is "
        f"lost ({resume}); free space or lower --save-total-limit"
    )


def _state_bytes(accelerator: Accelerator) -> int:
    """The bytes of the models' and optimizers' states: a first checkpoint's size, near enough
    (accelerate keeps the prepared objects in `_models` / `_optimizers`)."""
    states = [m.state_dict() for m in accelerator._models] + [o.state_dict() for o in accelerator._optimizers]
    total = 0
    for state in states:
        stack = [state]
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                stack.extend(value.values())
            elif hasattr(value, "element_size"):
                total += value.numel() * value.element_size()
    return total


def folder_bytes(folder: Path) -> int:
    """The bytes of every file under `folder`."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def write_manifest(folder: Path) -> None:
    """Record the size and SHA-256 of every file of `folder` in its manifest (written last)."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)
    manifest = {str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": _sha256(p)} for p in files}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def checkpoint_damage(folder: Path) -> str | None:
    """What is wrong with a checkpoint's files against its manifest ("model.safetensors: 100 bytes,
    1000 recorded"), None when all match. A checkpoint written before manifests existed has none:
    it cannot be checked and counts as intact."""
    manifest_path = Path(folder) / MANIFEST_FILE
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"{MANIFEST_FILE} is unreadable"
    for name, recorded in manifest.items():
        path = Path(folder) / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != recorded["size"]:
            return f"{name}: {size} bytes, {recorded['size']} recorded"
        if _sha256(path) != recorded["sha256"]:
            return f"{name}: its SHA-256 differs from the recorded one"
    return None


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
    """The checkpoint to resume from: a path, or with `True`/"latest" the newest intact one in
    `output_dir` (of run `run_id`, the folder's current run, when given; a damaged newer one is
    named in a warning and passed over)."""
    if resume in (None, False, ""):
        return None
    if resume in (True, "latest"):
        checkpoints = list_checkpoints(output_dir, run_id)
        if not checkpoints:
            raise FileNotFoundError(
                f"--resume: no checkpoint{' of the current run' if run_id else ''} under "
                f"{Path(output_dir) / 'checkpoints'} to resume from"
            )
        damaged = []
        for checkpoint in reversed(checkpoints):
            damage = checkpoint_damage(checkpoint)
            if damage is None:
                return checkpoint
            damaged.append(f"{checkpoint.name}: {damage}")
            print(f"warning: --resume: {checkpoint} is damaged ({damage}); trying the one before it")
        raise ValueError(
            f"--resume: no intact checkpoint under {Path(output_dir) / 'checkpoints'} "
            f"({'; '.join(damaged)}); start over with --overwrite"
        )
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"--resume: {path} is not a checkpoint folder (no {STATE_FILE} in it)")
    damage = checkpoint_damage(path)
    if damage is not None:
        raise ValueError(
            f"--resume: {path} is damaged ({damage}); resume from an intact one (--resume without a "
            "folder takes the newest intact checkpoint)"
        )
    return path


def load_checkpoint(accelerator: Accelerator, path: Path) -> TrainerState:
    """Restore every prepared object and RNG from `path`; return where the run stood."""
    accelerator.load_state(str(path))
    return TrainerState(**json.loads((Path(path) / STATE_FILE).read_text()))
