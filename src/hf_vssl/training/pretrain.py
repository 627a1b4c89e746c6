"""Pretraining of any registered method: a method config (`hf_vssl.methods.build_method_config`), the
shared loop, then the export (`save_pretrained` of backbone + heads, and a model card beside it)."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets
from accelerate.utils import set_seed

from ..methods.modeling_pretraining import VsslForPretraining, VsslPretrainingConfig
from ..methods.registry import MethodSpec, get_method
from .loop import EpochCallback, TrainingArguments, TrainResult, fit, make_accelerator
from .monitor import KnnMonitor

if TYPE_CHECKING:  # PyAV loads when a run builds its data, not with the package
    from ..data.clip_dataset import VideoClipDataset
    from ..data.streaming import ParquetStream, StreamingClipDataset

logger = logging.getLogger(__name__)


@dataclass
class PretrainOutput:
    model: VsslForPretraining
    result: TrainResult
    model_dir: Path
    card_path: Path


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


def build_stream_dataset(
    spec: MethodSpec, config: VsslPretrainingConfig, stream: ParquetStream, args: TrainingArguments
) -> StreamingClipDataset:
    """The method's training samples read from a stream (`--streaming`): `build_train_dataset`'s clips of
    each streamed row."""
    from ..data.streaming import StreamingClipDataset

    clips = build_train_dataset(spec, config, stream.template(), args.seed)
    return StreamingClipDataset(
        stream, clips, seed=args.seed, shuffle_buffer_size=args.shuffle_buffer_size,
        epoch_repeats=config.epoch_repeats,
    )  # fmt: skip


def training_samples(
    spec: MethodSpec,
    config: VsslPretrainingConfig,
    dataset: datasets.DatasetDict | ParquetStream,
    args: TrainingArguments,
) -> tuple[datasets.DatasetDict, VideoClipDataset | StreamingClipDataset]:
    """The splits the run reads, as `as_video_dataset` gives them (train, and the monitor's held-out split:
    their frame counts probed once), and its training samples; a stream gives the samples only."""
    from ..data.sources import as_video_dataset
    from ..data.streaming import ParquetStream

    if args.streaming != isinstance(dataset, ParquetStream):
        raise ValueError(
            "--streaming trains from a ParquetStream (hf_vssl.data.streaming.open_stream) and only from one; "
            f"got {type(dataset).__name__} with streaming={args.streaming}"
        )
    if args.streaming:  # no held-out split: TrainingArguments refuses the monitor with --streaming
        return datasets.DatasetDict(), build_stream_dataset(spec, config, dataset, args)
    if "train" not in dataset:
        raise ValueError(f"pretraining reads the 'train' split; the dataset has {list(dataset)}")
    videos = as_video_dataset(dataset if args.monitor_every else datasets.DatasetDict(train=dataset["train"]))
    return videos, build_train_dataset(spec, config, videos["train"], args.seed)


def pretrain(
    config: VsslPretrainingConfig,
    dataset: datasets.DatasetDict | ParquetStream,
    args: TrainingArguments,
    *,
    init_backbone_from: str | None = None,
    dataset_name: str = "",
    model: VsslForPretraining | None = None,
) -> PretrainOutput:
    """Pretrain `config.method` on `dataset["train"]`, save checkpoints, export the final model to
    `args.output_dir / "model"`. model: an already built (e.g. partly loaded) model of `config`.

    dataset: any DatasetDict with a `video` column of paths or `Video` cells (`as_video_dataset`: a
    `load_dataset("videofolder", ...)` result, a Hub dataset); frame counts are probed when absent. Or,
    with `args.streaming`, the train split's Parquet shards as a stream (`hf_vssl.data.streaming.open_stream`)."""
    from .export import export_pretrained

    spec = get_method(config.method)
    videos, train_dataset = training_samples(spec, config, dataset, args)
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
    callbacks = epoch_callbacks(config, videos, args, dataset_name)
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
    """The kNN monitor (`args.monitor_every`) and the mid-run exports (`args.export_epochs`) of a run.
    dataset: the run's splits as `as_video_dataset` gives them."""
    callbacks: list[EpochCallback] = []
    if args.monitor_every:
        callbacks.append(
            KnnMonitor(
                dataset,
                config.video_processor(),
                args.output_dir,
                every=args.monitor_every,
                last_epoch=config.epochs,
                stream=config.modality,
                num_workers=args.decoding_workers,
                max_videos=args.monitor_max_videos,
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
    """ViCC stage 2 (Toering et al., WACV 2022): the RGB -> flow -> RGB -> flow alternation after the two
    stage-1 runs.

    Each round is a full run of the shared loop in `args.output_dir / "round<i>-<stream>"`, starting
    the trained stream from its latest export and freezing the other stream's latest export
    (`hf_vssl.methods.vicc.cross_stream_schedule`). With `args.resume`, finished rounds are skipped
    and an interrupted round continues from its newest checkpoint.
    """
    from ..methods.registry import coerce_overrides
    from ..methods.vicc import ViCCConfig, ViCCForPretraining, cross_stream_schedule
    from .checkpointing import list_checkpoints

    overrides = coerce_overrides(ViCCConfig, overrides or {}, "--set")
    outputs = []
    for round_ in cross_stream_schedule(
        rgb_checkpoint, flow_checkpoint, args.output_dir, rounds, first_stream
    ):
        if args.resume and (round_.checkpoint / "model.safetensors").is_file():
            continue  # finished before the interruption
        model = ViCCForPretraining.for_round(round_, **overrides)
        resume = "latest" if args.resume and list_checkpoints(round_.output_dir) else None
        round_args = dataclasses.replace(args, output_dir=round_.output_dir, resume=resume)
        outputs.append(pretrain(model.config, dataset, round_args, dataset_name=dataset_name, model=model))
    return outputs
