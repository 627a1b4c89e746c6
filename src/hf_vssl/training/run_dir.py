"""One output folder, one run: a new run never clobbers a folder that holds one, and `--resume`
continues only the run it was started as.

`run.json` in the folder (and a copy in each checkpoint) holds a run id and the run record (method,
model and backbone config, recipe: what the caller passes). `--resume` compares the checkpoint's
record with the new one; checkpoint rotation deletes only checkpoints carrying the current run id.

`--resume auto` makes one command start, continue or leave alone the run, whatever the folder holds,
so a scheduler can requeue it unchanged: an empty folder (or one whose run wrote no checkpoint yet)
starts a new run, checkpoints of the same recipe's run are continued from the newest intact one, a
finished run (its final model exported) ends the command at once with status 0 (`RunFinished`), and
another recipe's run is refused as `--resume` refuses it.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from .checkpointing import (
    PARTIAL_SUFFIX,
    RUN_FILE,
    RunInfo,
    list_checkpoints,
    read_run_file,
    resolve_resume,
    write_run_file,
)
from .run_lock import lock_run_folder

# the exports of `pretrain` (model/) and `finetune` (finetuned/): a folder with one holds a finished run
MODEL_DIRS = ("model", "finetuned")
MAX_LISTED = 8  # differences named in a --resume error
RESUME_AUTO = "auto"  # `--resume auto`: start, continue or leave alone the folder's run


class RunFinished(SystemExit):
    """`--resume auto` found the folder's run finished: nothing to train or write, exit status 0 (a
    requeued job whose run ended in an earlier allocation ends well)."""

    def __init__(self, output_dir: Path) -> None:
        super().__init__(0)
        self.output_dir = Path(output_dir)

    def __reduce__(self) -> tuple[type, tuple[Path]]:  # broadcast to every process as it is raised
        return (RunFinished, (self.output_dir,))


def prepare_output_dir(
    output_dir: Path,
    *,
    resume: str | Path | bool | None,
    overwrite: bool,
    run_record: dict[str, Any],
) -> RunInfo:
    """Check `output_dir` may take this run, then write the run record into it.

    A folder holding a run (checkpoints or a final model) is refused unless `resume` (continue it:
    its record must equal `run_record`; "auto": see the module's docstring) or `overwrite` (its
    checkpoints and model are deleted first); a folder another live process runs in is refused in
    any case (`run_lock`).
    """
    output_dir = Path(output_dir)
    lock_run_folder(output_dir)
    record = json.loads(json.dumps(run_record, default=str))  # as it reads back from run.json
    if resume and overwrite:
        raise ValueError(
            f"--resume continues the run in {output_dir} and --overwrite replaces it: give only one"
        )
    current = read_run_file(output_dir)
    if resume == RESUME_AUTO:
        resume = _auto_resume(output_dir, record, current)
    resume_from = resolve_resume(resume, output_dir, current["run_id"] if current else None)
    if resume_from is not None:
        run_id = _check_same_run(resume_from, record, current, output_dir)
        for leftover in (output_dir / "checkpoints").glob(f"*{PARTIAL_SUFFIX}"):
            shutil.rmtree(leftover)  # a checkpoint write that a kill cut short
    else:
        contents = run_contents(output_dir)
        if contents and not overwrite:
            raise FileExistsError(
                f"{output_dir} already holds a run ({', '.join(contents)}): continue it with --resume, "
                "start over with --overwrite (deletes them), or choose another --output-dir"
            )
        for name in contents:
            shutil.rmtree(output_dir / name)
        run_id = uuid.uuid4().hex
    write_run_file(output_dir, run_id, record)
    return RunInfo(run_id=run_id, record=record, resume_from=resume_from)


def run_contents(output_dir: Path) -> list[str]:
    """What a new run in `output_dir` would clobber: "checkpoints" and the final model folders."""
    found = ["checkpoints"] if list_checkpoints(output_dir) else []
    return found + [name for name in MODEL_DIRS if (Path(output_dir) / name).is_dir()]


def record_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """["recipe.learning_rate: 0.1 -> 0.2", ...] over the flattened records."""
    old_flat, new_flat = _flatten(old), _flatten(new)
    missing = "(absent)"
    return [
        f"{key}: {old_flat.get(key, missing)} -> {new_flat.get(key, missing)}"
        for key in sorted(old_flat.keys() | new_flat.keys())
        if old_flat.get(key, missing) != new_flat.get(key, missing)
    ]


def _check_same_run(
    checkpoint: Path, record: dict[str, Any], current: dict[str, Any] | None, output_dir: Path
) -> str:
    """The run id to continue under; an error when the checkpoint is of another run or folder."""
    saved = read_run_file(checkpoint)
    if saved is None:  # written before run records existed: nothing to compare
        print(f"--resume: {checkpoint} has no {RUN_FILE}; cannot check it is the same method and recipe")
        return current["run_id"] if current else uuid.uuid4().hex
    _check_same_record(checkpoint, saved["record"], record)
    if current is not None and current["run_id"] != saved["run_id"] and run_contents(output_dir):
        raise FileExistsError(
            f"--resume {checkpoint}: {output_dir} holds another run; resume into an empty --output-dir"
        )
    return saved["run_id"]


def _auto_resume(output_dir: Path, record: dict[str, Any], current: dict[str, Any] | None) -> str | None:
    """What `--resume auto` means for the folder: None (a new run), "latest" (continue its run), or
    `RunFinished` raised for a run that exported its final model."""
    contents = run_contents(output_dir)
    if not contents:
        return None
    if not any(name in MODEL_DIRS for name in contents):
        return "latest"
    if current is not None:
        _check_same_record(output_dir / RUN_FILE, current["record"], record)
    print(f"--resume auto: the run in {output_dir} is finished ({', '.join(contents)}); nothing to do")
    raise RunFinished(output_dir)


def _check_same_record(source: Path, saved: dict[str, Any], record: dict[str, Any]) -> None:
    """The one-line refusal to continue a run of another recipe than `record`."""
    differences = record_differences(saved, record)
    if differences:
        shown = "; ".join(differences[:MAX_LISTED])
        more = f" (and {len(differences) - MAX_LISTED} more)" if len(differences) > MAX_LISTED else ""
        raise ValueError(
            f"--resume: {source} is of another run; checkpoint -> now: {shown}{more}. "
            "Resume with the run's own options, or start a new run (--overwrite or another --output-dir)"
        )


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
