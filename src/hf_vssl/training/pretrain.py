"""Pretraining of any registered method: config from (preset, method, backbone, overrides), the shared
loop, then the export (`save_pretrained` of backbone + heads, and a model card beside it)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from accelerate.utils import set_seed
from transformers import AutoConfig, PreTrainedConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from ..methods.modeling_pretraining import VsslForPretraining, VsslPretrainingConfig
from ..methods.registry import MethodSpec, get_method
from .loop import TrainingArguments, TrainResult, fit, make_accelerator
from .recipe import OptimizerRecipe


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

    preset: a zoo name (`hf-vssl zoo`), giving method, backbone, clip length, crop and frame size.
    backbone: a backbone type ("r3d", "s3d"...) replacing the preset's / the method's default one.
    backbone_overrides: backbone config fields (e.g. width_multiplier=0.25, depth=18).
    overrides: method config fields (recipe fields included: epochs, batch_size, learning_rate...).
    """
    overrides = dict(overrides or {})
    backbone_overrides = dict(backbone_overrides or {})
    backbone_config: PreTrainedConfig | None = None
    if preset is not None:
        from ..hub.zoo import get_preset

        zoo_entry = get_preset(preset)
        if method is not None and method != zoo_entry.method:
            raise ValueError(f"preset '{preset}' is a '{zoo_entry.method}' model, not '{method}'")
        method = zoo_entry.method
        if backbone is None:
            backbone_config = zoo_entry.backbone_config(**backbone_overrides)
        for name in ("num_frames", "crop_size", "frame_size"):
            value = getattr(zoo_entry, name)
            if value is not None:
                overrides.setdefault(name, list(value) if isinstance(value, tuple) else value)
    if method is None:
        raise ValueError("name a method (--method) or a zoo preset (--preset)")
    spec = get_method(method)
    if backbone is not None:
        backbone_config = AutoConfig.for_model(backbone_model_type(backbone), **backbone_overrides)
    elif backbone_config is None and backbone_overrides:
        default = spec.config_class().backbone_config
        backbone_config = type(default).from_dict({**default.to_dict(), **backbone_overrides})
    fields = {f.name for f in dataclasses.fields(spec.config_class)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"unknown {spec.config_class.__name__} field(s) {unknown}; fields: {', '.join(sorted(fields - {'backbone_config'}))}"
        )
    if backbone_config is not None:
        overrides["backbone_config"] = backbone_config.to_dict()
    return spec.config_class(**overrides)


def build_train_dataset(spec: MethodSpec, config: VsslPretrainingConfig, split: datasets.Dataset, seed: int):
    """The method's training samples: its clip sampler over `split`, frames decoded at frame_size."""
    from ..data.clip_dataset import VideoClipDataset

    if spec.uses_flow(config) and "flow" not in split.column_names:
        raise ValueError(
            f"this {spec.name} configuration reads optical flow, but the dataset has no 'flow' column; "
            "compute flow videos first (see the README) or train the RGB stream"
        )
    return VideoClipDataset(split, spec.build_sampler(config), frame_size=tuple(config.frame_size), seed=seed)


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
    `args.output_dir / "model"`. model: an already built (e.g. partly loaded) model of `config`."""
    from .export import export_pretrained

    spec = get_method(config.method)
    train_dataset = build_train_dataset(spec, config, dataset["train"], args.seed)
    if model is None:
        set_seed(args.seed)  # the initial weights depend on the seed only
        model = spec.model_class(config)
    if init_backbone_from:
        model.init_backbone_from(init_backbone_from)
    if model.has_idle_parameters():
        args = dataclasses.replace(args, find_unused_parameters=True)
    accelerator = make_accelerator(args)
    recipe = OptimizerRecipe.from_config(config)
    hparams = {"method": spec.name, **{k: v for k, v in config.pretraining_record().items() if k != "method"}}
    result = fit(
        model,
        train_dataset,
        spec.build_augment(config),
        recipe,
        args,
        accelerator=accelerator,
        hparams=hparams,
    )
    model_dir, card_path = export_pretrained(
        model,
        args.output_dir / "model",
        recipe=recipe,
        result=result,
        dataset_name=dataset_name,
        accelerator=accelerator,
    )
    return PretrainOutput(model=model, result=result, model_dir=model_dir, card_path=card_path)


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
