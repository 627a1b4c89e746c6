"""Publishing a checkpoint as `vssl/<preset>`: stage exactly the repository's files, then upload them.

A repository holds config.json (with `auto_map`), the safetensors weights, the remote-code files,
the video processor config and the model card. Nothing else is copied from the checkpoint folder
(optimizer states, training logs, `conversion.json`), and pickles are never written: a checkpoint
whose weights exist only as a pickle is refused. The upload is one commit planned by
huggingface_hub (`HfApi.create_commit` with one `CommitOperationAdd` per staged file): a push that
fails half-way leaves the repository as it was, never with a config but no weights. Transient
failures (5xx, 429, a reset connection) are retried with backoff, and the commit is checked to hold
every staged file.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi, ModelCard
from huggingface_hub.errors import HfHubHTTPError

from ..data.processor import VsslVideoProcessor
from .cards import WeightsOrigin, classifier_card, plain_card, render_card, run_preset
from .convert.source import read_conversion_record
from .zoo import ZOO, Preset, Result

SAFE_WEIGHTS = "model.safetensors"
SAFE_WEIGHTS_INDEX = "model.safetensors.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".tar")
CARD_NAME = "README.md"
# answers of a Hub (or a proxy) that a later try may not get: timeout, rate limit, server errors
TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)


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


def preset_mismatches(config: Any, preset: Preset, checkpoint: Path) -> list[str]:
    """How the checkpoint differs from `preset`'s model ([] = it is that model): the architecture and
    width, and the weights' origin: the preset's release for converted weights, else the method,
    stream and clip (frames, crop) of the pretraining record. A checkpoint without either record (a
    random init, a classifier's new head) is no preset's model."""
    if _is_classifier(config):
        return [f"it is a classifier ({config.architectures[0]}); presets describe pretrained backbones"]
    reference = preset.backbone_config()
    names = ["model_type", "in_channels", "width_multiplier", *dict(preset.backbone_kwargs)]
    differences = [
        f"{name}={getattr(config, name, None)!r} (preset: {getattr(reference, name)!r})"
        for name in names
        if getattr(config, name, None) != getattr(reference, name)
    ]
    conversion = read_conversion_record(checkpoint)
    record = getattr(config, "pretraining", None) or {}
    if conversion is not None and conversion.source != preset.convert_from:
        differences.append(
            f"converted from the '{conversion.source}' release (preset converts from '{preset.convert_from}')"
        )
    if record.get("method") not in (None, preset.method):
        differences.append(f"pretrained with '{record['method']}' (preset: '{preset.method}')")
    elif record.get("method") is not None:
        run = method_config(config, checkpoint)
        # converted weights are the release's run: only their stream is checked, not the clip
        compared = ("modality", "num_frames", "crop_size") if conversion is None else ("modality",)
        differences += [
            f"{name}={getattr(run, name)!r} (preset: {getattr(preset.config, name)!r})"
            for name in compared
            if getattr(run, name) != getattr(preset.config, name)
        ]
    elif conversion is None:
        differences.append("no pretraining or conversion record: the weights are not the preset's")
    return differences


def check_preset(config: Any, preset: Preset, checkpoint: Path) -> None:
    """Refuse a preset that does not describe the checkpoint (its card would describe another model)."""
    differences = preset_mismatches(config, preset, checkpoint)
    if differences:
        raise ValueError(
            f"{checkpoint} is not preset '{preset.name}': {'; '.join(differences)}. Push it without --preset: "
            "its card is made from its own config."
        )


def matching_preset(config: Any, checkpoint: Path) -> Preset | None:
    """The zoo preset whose model the checkpoint is, or None."""
    return next((p for p in ZOO if not preset_mismatches(config, p, checkpoint)), None)


def method_config(config: Any, checkpoint: Path) -> Any:
    """The method config of a pretraining checkpoint, rebuilt from its `pretraining` record."""
    from ..methods.registry import get_method

    method = get_method(config.pretraining["method"])
    return method.config_class.from_checkpoint_config(config, checkpoint)


def _is_classifier(config: Any) -> bool:
    return any(
        name.endswith("ForVideoClassification") for name in getattr(config, "architectures", None) or ()
    )


def weights_origin(config: Any, checkpoint: Path) -> WeightsOrigin:
    record = read_conversion_record(checkpoint)
    if record is not None:
        return WeightsOrigin("converted", record.weights_origin_detail(), record.original_input)
    method = (getattr(config, "pretraining", None) or {}).get("method")
    return WeightsOrigin("trained", f"Pretrained with hf-vssl's `{method}` method." if method else "")


def stage_repository(
    checkpoint: str | Path,
    target: str | Path,
    *,
    repo_id: str | None = None,
    preset: Preset | None = None,
    measured: Sequence[Result] = (),
    tags: Sequence[str] = (),
) -> list[str]:
    """Write into the empty (or new) folder `target` exactly the files of the Hub repository `repo_id`
    (default: `vssl/<preset>`, else the checkpoint folder's name). The card is made from the
    checkpoint's own config; `preset` (checked: it must be the checkpoint's model) or the zoo preset
    the checkpoint matches adds its paper's numbers."""
    from transformers import AutoConfig

    from .. import models  # noqa: F401  (registers the model types)
    from .remote_code import add_remote_code

    checkpoint, target = Path(checkpoint), Path(target)
    if not (checkpoint / "config.json").is_file():
        raise FileNotFoundError(f"{checkpoint} is not a saved checkpoint: it has no config.json")
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"{target} is not empty; stage the repository into a new or empty folder")
    config = AutoConfig.from_pretrained(checkpoint)
    if preset is not None:
        check_preset(config, preset, checkpoint)
    else:
        preset = matching_preset(config, checkpoint)
    repo_id = repo_id or (preset.repo_id if preset is not None else checkpoint.resolve().name)
    target.mkdir(parents=True, exist_ok=True)
    for path in [checkpoint / "config.json", *weight_files(checkpoint)]:
        shutil.copy2(path, target / path.name)
    add_remote_code(target)
    processor = repository_processor(checkpoint, config, preset)
    if processor is not None:
        processor.save_pretrained(target)
    card = repository_card(
        checkpoint, config, repo_id=repo_id, preset=preset, measured=measured, processor=processor
    )
    card.data.tags = [*(card.data.tags or []), *(t for t in tags if t not in (card.data.tags or []))]
    card.save(target / CARD_NAME)
    staged = sorted(p.name for p in target.iterdir())
    pickles = [name for name in staged if name.endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise RuntimeError(
            f"staging wrote pickles {pickles} into {target}; this is a bug in hf_vssl.hub.push"
        )
    return staged


def repository_processor(checkpoint: Path, config: Any, preset: Preset | None) -> VsslVideoProcessor | None:
    """The video processor of the repository: the one saved in the checkpoint, else the one its preset
    (a converted release) or its pretraining record derives for an RGB stream, else None (unknown)."""
    if (checkpoint / VsslVideoProcessor.config_name).is_file():
        return VsslVideoProcessor.from_pretrained(checkpoint)
    if preset is not None and read_conversion_record(checkpoint) is not None:
        return preset.config.video_processor()
    if (getattr(config, "pretraining", None) or {}).get("method") and not _is_classifier(config):
        run = method_config(config, checkpoint)
        return run.video_processor() if run.modality == "rgb" else None
    return None


def repository_card(
    checkpoint: Path,
    config: Any,
    *,
    repo_id: str,
    preset: Preset | None,
    measured: Sequence[Result],
    processor: VsslVideoProcessor | None,
) -> ModelCard:
    """The README.md: from the checkpoint's own config and the run record its folder holds (the card an
    hf-vssl command wrote: pretraining data, base model, measured results), never from a preset that
    does not describe it."""
    record = ModelCard.load(checkpoint / CARD_NAME) if (checkpoint / CARD_NAME).is_file() else None
    name = repo_id.rsplit("/", 1)[-1]
    if _is_classifier(config):
        return classifier_card(
            config,
            name=name,
            location=repo_id,
            eval_results=(record.data.eval_results or []) if record else [],
            base_model=record.data.base_model if record else None,
            processor=processor,
        )
    origin = weights_origin(config, checkpoint)
    if preset is not None and origin.kind == "converted":  # the release is the preset's run
        return render_card(
            preset,
            measured=measured,
            origin=origin,
            processor=processor,
            processor_saved=processor is not None,
            repo_id=repo_id,
        )
    datasets = (record.data.datasets or []) if record else []
    run = run_preset(
        config,
        name=name,
        pretrain_dataset=datasets[0] if datasets else "",
        reported=preset.reported if preset is not None else (),
    )
    if run is None:
        return plain_card(config, name=name, location=repo_id, processor=processor)
    return render_card(
        run,
        measured=measured,
        origin=origin,
        processor=processor,
        processor_saved=processor is not None,
        repo_id=repo_id,
        in_zoo=False,
    )


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
    endpoint: str | None = None,
    max_tries: int = 4,
    backoff_seconds: float = 2.0,
) -> CommitInfo:
    """Create `repo_id` if needed and commit every file of `folder` in one commit, trying up to
    `max_tries` times on a transient failure (waits `backoff_seconds`, doubling); then check the
    commit holds every file. endpoint: another Hub than huggingface_hub's (`HF_ENDPOINT`)."""
    if max_tries < 1:
        raise ValueError(f"max_tries must be >= 1, got {max_tries}")
    folder = Path(folder)
    api = HfApi(token=token, endpoint=endpoint)
    names = sorted(path.name for path in folder.iterdir() if path.is_file())
    for attempt in range(1, max_tries + 1):
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            commit = api.create_commit(
                repo_id,
                operations=[
                    CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name))
                    for name in names
                ],
                commit_message=commit_message or f"Upload {repo_id} with hf-vssl",
                commit_description=commit_description,
                revision=revision,
                create_pr=create_pr,
            )
            break
        except (HfHubHTTPError, httpx2.TransportError) as err:
            if not _is_transient(err) or attempt == max_tries:
                reason = " ".join(str(err).split())[:300]
                raise RuntimeError(
                    f"push to {repo_id} failed (try {attempt} of {max_tries}: {reason}); no commit was made "
                    "(the upload is one commit), so no file of it is in the repository: push again"
                ) from err
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
    _check_commit(api, repo_id, commit, names)
    return commit


def _is_transient(err: Exception) -> bool:
    if isinstance(err, httpx2.TransportError):  # reset or refused connection, timeout
        return True
    response = getattr(err, "response", None)
    return response is not None and response.status_code in TRANSIENT_STATUS


def _check_commit(api: HfApi, repo_id: str, commit: CommitInfo, names: list[str]) -> None:
    """Refuse a commit that does not hold every staged file (a Hub that dropped one)."""
    listed = set(api.list_repo_files(repo_id, revision=commit.oid))
    missing = [name for name in names if name not in listed]
    if missing:
        raise RuntimeError(f"the commit {commit.oid} of {repo_id} lacks {missing}: push again")


def push_checkpoint(
    checkpoint: str | Path,
    repo_id: str,
    *,
    preset: Preset | None = None,
    measured: Sequence[Result] = (),
    local_dir: str | Path | None = None,
    tags: Sequence[str] = (),
    **upload_kwargs: Any,
) -> CommitInfo | list[str]:
    """Stage `checkpoint` as the repository `repo_id` and upload it; with `local_dir`, only stage it there
    (nothing leaves the machine) and return the staged file names. `preset` is optional and checked."""
    if local_dir is not None:
        return stage_repository(
            checkpoint, local_dir, repo_id=repo_id, preset=preset, measured=measured, tags=tags
        )
    with tempfile.TemporaryDirectory(prefix="hf-vssl-push-") as tmp:
        stage_repository(checkpoint, tmp, repo_id=repo_id, preset=preset, measured=measured, tags=tags)
        return upload_repository(tmp, repo_id, **upload_kwargs)


def push_model(
    model: Any,
    repo_id: str,
    *,
    max_shard_size: int | str | None = "50GB",
    tags: Sequence[str] | None = None,
    **kwargs: Any,
) -> CommitInfo | list[str]:
    """`model.push_to_hub(repo_id)` of every hf-vssl model (installed on `VsslPreTrainedModel` by
    `hf_vssl.hub`): save it (safetensors, with its processor when it has one) and push the folder like
    a checkpoint. `tags` (transformers' argument) are added to the card."""
    with tempfile.TemporaryDirectory(prefix="hf-vssl-save-") as tmp:
        model.save_pretrained(tmp, max_shard_size=max_shard_size or "50GB")
        return push_checkpoint(tmp, repo_id, tags=tags or (), **kwargs)


__all__ = [
    "check_preset",
    "matching_preset",
    "push_checkpoint",
    "push_model",
    "stage_repository",
    "upload_repository",
    "weight_files",
]
