"""One output folder, one run: a new run never clobbers a folder that holds one, and `--resume`
continues only the run it was started as.

`run.json` in the folder (and a copy in each checkpoint) holds a run id and the run record (method,
model and backbone config, recipe: what the caller passes). `--resume` compares the checkpoint's
record with the new one; checkpoint rotation deletes only checkpoints carrying the current run id.
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


def prepare_output_dir(
    output_dir: Path,
    *,
    resume: str | Path | bool | None,
    overwrite: bool,
    run_record: dict[str, Any],
) -> RunInfo:
    """Check `output_dir` may take this run, then write the run record into it.

    A folder holding a run (checkpoints or a final model) is refused unless `resume` (continue it:
    its record must equal `run_record`) or `overwrite` (its checkpoints and model are deleted first);
    a folder another live process runs in is refused in any case (`run_lock`).
    """
    output_dir = Path(output_dir)
    lock_run_folder(output_dir)
    record = json.loads(json.dumps(run_record, default=str))  # as it reads back from run.json
    if resume and overwrite:
        raise ValueError(
            f"--resume continues the run in {output_dir} and --overwrite replaces it: give only one"
        )
    current = read_run_file(output_dir)
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
    differences = record_differences(saved["record"], record)
    if differences:
        shown = "; ".join(differences[:MAX_LISTED])
        more = f" (and {len(differences) - MAX_LISTED} more)" if len(differences) > MAX_LISTED else ""
        raise ValueError(
            f"--resume: {checkpoint} is of another run; checkpoint -> now: {shown}{more}. "
            "Resume with the run's own options, or start a new run (--overwrite or another --output-dir)"
        )
    if current is not None and current["run_id"] != saved["run_id"] and run_contents(output_dir):
        raise FileExistsError(
            f"--resume {checkpoint}: {output_dir} holds another run; resume into an empty --output-dir"
        )
    return saved["run_id"]


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
