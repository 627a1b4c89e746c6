"""Pretraining of any registered method: config from (preset, method, backbone, overrides), the shared
loop, then the export (`save_pretrained` of backbone + heads, and a model card beside it)."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from accelerate.utils import set_seed
from transformers import PreTrainedConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from ..methods.modeling_pretraining import VsslForPretraining, VsslPretrainingConfig
from ..methods.registry import MethodSpec, get_method
from ..typed_fields import coerce_value, field_types
from .loop import EpochCallback, TrainingArguments, TrainResult, default_num_workers, fit, make_accelerator
from .monitor import KnnMonitor

logger = logging.getLogger(__name__)


@dataclass
class PretrainOutput:
    model: VsslForPretraining
    result: TrainResult
    model_dir: Path
    card_path: Path


def backbone_model_type(name: str) -> str:
    """ "r3d" or "vssl-r3d" -> "vssl-r3d"; an unknown name is an error listing the known backbones."""
    model_type = name if name.startswith("vssl-") else f"vssl-{name}"
    known = sorted(_backbone_types())
    if model_type not in known:
        raise ValueError(
            f"unknown backbone '{name}'; choose one of: {', '.join(k.removeprefix('vssl-') for k in known)}"
        )
    return model_type


def _backbone_types() -> set[str]:
    from ..models.modeling_utils import VsslBackboneConfig

    return {
        k
        for k, cls in CONFIG_MAPPING.items()
        if k.startswith("vssl-") and issubclass(cls, VsslBackboneConfig)
    }


def build_method_config(
    method: str | None = None,
    backbone: str | None = None,
    *,
    preset: str | None = None,
    backbone_overrides: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> VsslPretrainingConfig:
    """The method config of a run. Precedence: `overrides` > preset > the method's defaults.

    preset: a zoo name (`hf-vssl zoo`): its method, backbone and every method-config field it sets
        (clip geometry, stream, concept counts...).
    backbone: a backbone type ("r3d", "s3d"...) replacing the preset's / the method's default one.
    backbone_overrides: backbone config fields (e.g. width_multiplier=0.25, depth=18).
    overrides: method config fields (recipe fields included: epochs, batch_size, learning_rate...).
    Values may be text (`--set`, YAML): each is coerced to its field's type; an unknown field of
    either config is an error listing the known ones.
    """
    if preset is None and method is None:
        raise ValueError("name a method (--method) or a zoo preset (--preset)")
    zoo_entry = None
    if preset is not None:
        from ..hub.zoo import get_preset

        zoo_entry = get_preset(preset)
        if method is not None and method != zoo_entry.method:
            raise ValueError(f"preset '{preset}' is a '{zoo_entry.method}' model, not '{method}'")
    spec = get_method(zoo_entry.method if zoo_entry else method)
    overrides = coerce_overrides(spec.config_class, overrides or {}, "--set")
    default_backbone = spec.config_class.sub_configs_defaults["backbone_config"]
    if backbone is not None:
        model_type, backbone_values = backbone_model_type(backbone), {}
    elif zoo_entry is not None:
        model_type, backbone_values = zoo_entry.backbone_type, {}
    else:  # the method's default backbone (e.g. Pace's compact R(2+1)D)
        model_type, backbone_values = default_backbone.model_type, dict(default_backbone.init_kwargs)
    backbone_values |= coerce_overrides(
        CONFIG_MAPPING[model_type], backbone_overrides or {}, "--backbone-config"
    )
    if zoo_entry is not None and backbone is None:
        return zoo_entry.build_config(backbone_overrides=backbone_values, **overrides)
    return spec.config_class(backbone_config={"model_type": model_type, **backbone_values}, **overrides)


def coerce_overrides(config_class: type, values: dict[str, Any], option: str) -> dict[str, Any]:
    """`values` coerced to the fields of `config_class`; an unknown name is an error listing the fields."""
    hints = field_types(config_class)
    fields = _own_fields(config_class)
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(
            f"{option}: unknown {config_class.__name__} field(s) {unknown}; fields: {', '.join(sorted(fields))}"
        )
    return {k: coerce_value(f"{option} {k}", v, hints[k], from_text=True) for k, v in values.items()}


def _own_fields(config_class: type) -> set[str]:
    """The fields a user may set: the config class's own, not transformers' bookkeeping."""
    inherited = {f.name for f in dataclasses.fields(PreTrainedConfig)} | {"backbone_config", "pretraining"}
    return {f.name for f in dataclasses.fields(config_class)} - inherited


def build_train_dataset(spec: MethodSpec, config: VsslPretrainingConfig, split: datasets.Dataset, seed: int):
    """The method's training samples: its clip sampler over `split`, frames decoded at frame_size."""
    from ..data.clip_dataset import VideoClipDataset

    if spec.uses_flow(config) and "flow" not in split.column_names:
        raise ValueError(
            f"this {spec.name} configuration reads optical flow, but the dataset has no 'flow' column; "
            "compute flow videos first with `hf-vssl extract-flow` or train the RGB stream"
        )
    if config.repeated_samples > 1 and config.compares_batch_samples:
        logger.warning(
            "repeated_samples %d: %s contrasts each sample with the batch's others, so the %d clips of a video "
            "in a batch are one another's negatives; repeated_samples=1 avoids that",
            config.repeated_samples,
            spec.name,
            config.repeated_samples,
        )
    frame_size = None if config.frame_size is None else tuple(config.frame_size)
    return VideoClipDataset(
        split,
        spec.build_sampler(config),
        frame_size=frame_size,
        seed=seed,
        epoch_repeats=config.epoch_repeats,
        repeated_samples=config.repeated_samples,
    )


def pretrain(
    config: VsslPretrainingConfig,
    dataset: datasets.DatasetDict,
    args: TrainingArguments,
    *,
    init_backbone_from: str | None = None,
    dataset_name: str = "",
    model: VsslForPretraining | None = None,
) -> PretrainOutput:
    """Pretrain `config.method` on `dataset["train"]`, save checkpoints, export the final model to
    `args.output_dir / "model"`. model: an already built (e.g. partly loaded) model of `config`.

    dataset: any DatasetDict with a `video` column of paths or `Video` cells (`as_video_dataset`: a
    `load_dataset("videofolder", ...)` result, a Hub dataset); frame counts are probed when absent."""
    from ..data.sources import as_video_dataset
    from .export import export_pretrained

    spec = get_method(config.method)
    if "train" not in dataset:
        raise ValueError(f"pretraining reads the 'train' split; the dataset has {list(dataset)}")
    train = as_video_dataset(datasets.DatasetDict(train=dataset["train"]))["train"]
    train_dataset = build_train_dataset(spec, config, train, args.seed)
    if model is None:
        set_seed(args.seed)  # the initial weights depend on the seed only
        model = spec.model_class(config)
    if init_backbone_from:
        model.init_backbone_from(init_backbone_from)
    if model.has_idle_parameters():
        args = dataclasses.replace(args, find_unused_parameters=True)
    accelerator = make_accelerator(args)
    recipe = config.optimizer_recipe
    hparams = {"method": spec.name, **{k: v for k, v in config.pretraining_record().items() if k != "method"}}
    callbacks = epoch_callbacks(config, dataset, args, dataset_name)
    start = time.perf_counter()
    result = fit(
        model,
        train_dataset,
        spec.build_augment(config),
        recipe,
        args,
        accelerator=accelerator,
        hparams=hparams,
        callbacks=callbacks,
    )
    for callback in callbacks:
        if isinstance(callback, KnnMonitor):
            accelerator.print(callback.summary_line(time.perf_counter() - start))
    model_dir, card_path = export_pretrained(
        model,
        args.output_dir / "model",
        result=result,
        dataset_name=dataset_name,
        accelerator=accelerator,
    )
    return PretrainOutput(model=model, result=result, model_dir=model_dir, card_path=card_path)


def epoch_callbacks(
    config: VsslPretrainingConfig, dataset: datasets.DatasetDict, args: TrainingArguments, dataset_name: str
) -> tuple[EpochCallback, ...]:
    """The kNN monitor (`args.monitor_every`) and the mid-run exports (`args.export_epochs`) of a run."""
    callbacks: list[EpochCallback] = []
    if args.monitor_every:
        from ..data.sources import as_video_dataset

        callbacks.append(
            KnnMonitor(
                as_video_dataset(dataset),
                config.video_processor(),
                args.output_dir,
                every=args.monitor_every,
                last_epoch=config.epochs,
                stream=config.modality,
                num_workers=default_num_workers() if args.num_workers is None else args.num_workers,
            )
        )
    if args.export_epochs:
        from .export import EpochExports

        callbacks.append(EpochExports(args.export_epochs, args.output_dir, dataset_name, config.epochs))
    return tuple(callbacks)


def pretrain_cross_stream(
    rgb_checkpoint: str | Path,
    flow_checkpoint: str | Path,
    dataset: datasets.DatasetDict,
    args: TrainingArguments,
    *,
    rounds: int = 4,
    first_stream: str = "rgb",
    overrides: dict[str, Any] | None = None,
    dataset_name: str = "",
) -> list[PretrainOutput]:
    """ViCC stage 2 (seed 004): the RGB -> flow -> RGB -> flow alternation after the two stage-1 runs.

    Each round is a full run of the shared loop in `args.output_dir / "round<i>-<stream>"`, starting
    the trained stream from its latest export and freezing the other stream's latest export
    (`hf_vssl.methods.vicc.cross_stream_schedule`). With `args.resume`, finished rounds are skipped
    and an interrupted round continues from its newest checkpoint.
    """
    from ..methods.vicc import ViCCForPretraining, cross_stream_schedule
    from .checkpointing import list_checkpoints

    outputs = []
    for round_ in cross_stream_schedule(
        rgb_checkpoint, flow_checkpoint, args.output_dir, rounds, first_stream
    ):
        if args.resume and (round_.checkpoint / "model.safetensors").is_file():
            continue  # finished before the interruption
        model = ViCCForPretraining.for_round(round_, **(overrides or {}))
        resume = "latest" if args.resume and list_checkpoints(round_.output_dir) else None
        round_args = dataclasses.replace(args, output_dir=round_.output_dir, resume=resume)
        outputs.append(pretrain(model.config, dataset, round_args, dataset_name=dataset_name, model=model))
    return outputs
