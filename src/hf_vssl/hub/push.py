"""Publishing a checkpoint as `vssl/<preset>`: stage exactly the repository's files, then upload them.

A repository holds config.json (with `auto_map`), the safetensors weights, the remote-code files,
the video processor config and the model card. Nothing else is copied from the checkpoint folder
(optimizer states, training logs, `conversion.json`), and pickles are never written: a checkpoint
whose weights exist only as a pickle is refused. The upload is one commit planned by
huggingface_hub (`HfApi.create_commit` with one `CommitOperationAdd` per staged file).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi

from ..data.processor import VsslVideoProcessor
from .cards import WeightsOrigin, render_card
from .convert.source import read_conversion_record
from .zoo import Preset, Result, get_preset

SAFE_WEIGHTS = "model.safetensors"
SAFE_WEIGHTS_INDEX = "model.safetensors.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".tar")
CARD_NAME = "README.md"


def weight_files(checkpoint: Path) -> list[Path]:
    """The safetensors weights of a saved checkpoint (one file, or the shards its index lists)."""
    if (checkpoint / SAFE_WEIGHTS).is_file():
        return [checkpoint / SAFE_WEIGHTS]
    index = checkpoint / SAFE_WEIGHTS_INDEX
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        missing = [name for name in shards if not (checkpoint / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{index} lists shards that are not in {checkpoint}: {missing}")
        return [index, *(checkpoint / name for name in shards)]
    pickles = sorted(p.name for p in checkpoint.iterdir() if p.suffix in PICKLE_SUFFIXES)
    hint = f" (found only pickles: {pickles}; they are never uploaded)" if pickles else ""
    raise FileNotFoundError(
        f"{checkpoint} has no {SAFE_WEIGHTS}{hint}. Load the model and save it again with save_pretrained, "
        "or convert an original release with `hf-vssl convert`."
    )


def check_preset(config: Any, preset: Preset, checkpoint: Path) -> None:
    """The checkpoint must be the preset's backbone (and, when recorded, its method or release)."""
    wanted = {"model_type": preset.backbone_type, **dict(preset.backbone_kwargs)}
    found = {name: getattr(config, name, None) for name in wanted}
    if found != wanted:
        raise ValueError(f"{checkpoint} is a {found} checkpoint, but preset '{preset.name}' is {wanted}")
    record = getattr(config, "pretraining", None) or {}
    if record.get("method", preset.method) != preset.method:
        raise ValueError(
            f"{checkpoint} was pretrained with '{record['method']}', but preset '{preset.name}' is '{preset.method}'"
        )
    if record.get("stream", preset.modality) != preset.modality:
        raise ValueError(
            f"{checkpoint} trained the '{record['stream']}' stream, but preset '{preset.name}' is '{preset.modality}'"
        )
    conversion = read_conversion_record(checkpoint)
    if conversion is not None and conversion.source != preset.convert_from:
        raise ValueError(
            f"{checkpoint} was converted from the '{conversion.source}' release, but preset '{preset.name}' "
            f"converts from '{preset.convert_from}'"
        )


def weights_origin(config: Any, checkpoint: Path) -> WeightsOrigin:
    record = read_conversion_record(checkpoint)
    if record is not None:
        return WeightsOrigin("converted", record.weights_origin_detail(), record.original_input)
    method = (getattr(config, "pretraining", None) or {}).get("method")
    return WeightsOrigin("trained", f"Pretrained with hf-vssl's `{method}` method." if method else "")


def stage_repository(
    checkpoint: str | Path, target: str | Path, *, preset: Preset, measured: Sequence[Result] = ()
) -> list[str]:
    """Write into the empty (or new) folder `target` exactly the files of the Hub repository."""
    from transformers import AutoConfig

    from .. import models  # noqa: F401  (registers the model types)
    from .remote_code import add_remote_code

    checkpoint, target = Path(checkpoint), Path(target)
    if not (checkpoint / "config.json").is_file():
        raise FileNotFoundError(f"{checkpoint} is not a saved checkpoint: it has no config.json")
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"{target} is not empty; stage the repository into a new or empty folder")
    config = AutoConfig.from_pretrained(checkpoint)
    check_preset(config, preset, checkpoint)
    target.mkdir(parents=True, exist_ok=True)
    for path in [checkpoint / "config.json", *weight_files(checkpoint)]:
        shutil.copy2(path, target / path.name)
    add_remote_code(target)
    processor = repository_processor(checkpoint, preset)
    processor.save_pretrained(target)
    card = render_card(
        preset, measured=measured, origin=weights_origin(config, checkpoint), processor=processor
    )
    card.save(target / CARD_NAME)
    staged = sorted(p.name for p in target.iterdir())
    pickles = [name for name in staged if name.endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise RuntimeError(
            f"staging wrote pickles {pickles} into {target}; this is a bug in hf_vssl.hub.push"
        )
    return staged


def repository_processor(checkpoint: Path, preset: Preset) -> VsslVideoProcessor:
    """The checkpoint's own video processor config, or the one the preset's method config derives."""
    if (checkpoint / VsslVideoProcessor.config_name).is_file():
        return VsslVideoProcessor.from_pretrained(checkpoint)
    return preset.config.video_processor()


def upload_repository(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | bool | None = None,
    private: bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
    commit_description: str | None = None,
) -> CommitInfo:
    """Create `repo_id` if needed and commit every file of `folder` in one commit."""
    folder = Path(folder)
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    operations = [
        CommitOperationAdd(path_in_repo=path.name, path_or_fileobj=str(path))
        for path in sorted(folder.iterdir())
        if path.is_file()
    ]
    return api.create_commit(
        repo_id,
        operations=operations,
        commit_message=commit_message or f"Upload {repo_id} with hf-vssl",
        commit_description=commit_description,
        revision=revision,
        create_pr=create_pr,
    )


def push_checkpoint(
    checkpoint: str | Path,
    repo_id: str,
    *,
    preset: Preset | None = None,
    measured: Sequence[Result] = (),
    local_dir: str | Path | None = None,
    **upload_kwargs: Any,
) -> CommitInfo | list[str]:
    """Stage `checkpoint` as the repository `repo_id` and upload it; with `local_dir`, only stage it there
    (nothing leaves the machine) and return the staged file names. The preset defaults to the one named
    like the repository."""
    preset = preset or get_preset(repo_id.rsplit("/", 1)[-1])
    if local_dir is not None:
        return stage_repository(checkpoint, local_dir, preset=preset, measured=measured)
    with tempfile.TemporaryDirectory(prefix="hf-vssl-push-") as tmp:
        stage_repository(checkpoint, tmp, preset=preset, measured=measured)
        return upload_repository(tmp, repo_id, **upload_kwargs)


def push_model(
    model: Any, repo_id: str, *, max_shard_size: int | str = "50GB", **kwargs: Any
) -> CommitInfo | list[str]:
    """Save a model object (safetensors) and push it like a checkpoint folder, as a zoo preset repository."""
    with tempfile.TemporaryDirectory(prefix="hf-vssl-save-") as tmp:
        model.save_pretrained(tmp, max_shard_size=max_shard_size)
        return push_checkpoint(tmp, repo_id, **kwargs)


__all__ = [
    "push_checkpoint",
    "push_model",
    "stage_repository",
    "upload_repository",
    "weight_files",
]
