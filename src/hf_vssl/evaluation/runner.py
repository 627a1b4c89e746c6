"""What every evaluation command shares: the network under test, the data, the test clips.

The network is any checkpoint `AutoModel.from_pretrained` loads (a folder or a Hub id; a
pretraining checkpoint gives its backbone) or a random init of a backbone type. The test clips are
described by one `VsslVideoProcessor`: the one saved with the checkpoint, else the one its
`pretraining` record implies, else the papers' 16 frames, 112 crop and 128 x 171 frames; any field
given in `EvaluationArguments` overrides it. The input stream (RGB videos, or the flow videos of
`hf-vssl extract-flow`) is the model's own unless named, and a model refuses the other stream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
from accelerate import Accelerator
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModel

from ..data.processor import VsslVideoProcessor
from ..data.sources import DataArguments, as_video_dataset, class_names
from ..data.test_clips import STREAM_COLUMNS
from ..models.auto import backbone_model_type
from ..models.modeling_utils import VsslBackboneModel
from .features import ClipOutputs, cached_backbone_features, extract_clip_outputs


@dataclass
class EvaluationArguments:
    """The network under test and its test clips (None: the checkpoint's processor decides)."""

    model: str | None = field(
        default=None,
        metadata={
            "help": "checkpoint to evaluate: a folder or Hub id AutoModel.from_pretrained loads (a "
            "pretraining checkpoint gives its backbone); omit it and name --backbone for a random init",
            "metavar": "PATH_OR_HUB_ID",
        },
    )
    backbone: str | None = field(
        default=None, metadata={"help": "backbone type for a random init: r3d, r2plus1d, s3d, c3d"}
    )
    backbone_config: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "backbone config field of the random init, repeatable (e.g. depth=18)"},
    )
    label_column: str = field(default="label", metadata={"help": "the dataset column holding the class"})
    stream: str | None = field(
        default=None,
        metadata={
            "help": "input stream: rgb (the 'video' column) or flow (the 'flow' column of `hf-vssl "
            "extract-flow`); default: the model's (a flow-pretrained model: flow)",
            "choices": tuple(STREAM_COLUMNS),
        },
    )
    # test clips: each overrides the checkpoint's video processor
    num_frames: int | None = field(default=None, metadata={"help": "frames per test clip"})
    frame_stride: int | None = field(default=None, metadata={"help": "frame step inside a clip"})
    crop_size: int | None = field(default=None, metadata={"help": "side of the centre crop"})
    frame_size: list[int] | None = field(
        default=None, metadata={"help": "frames are resized to H W first", "metavar": ("H", "W")}
    )
    num_clips: int | None = field(default=None, metadata={"help": "uniform clips per video"})
    window_stride: int | None = field(
        default=None, metadata={"help": "ViCC's dense test: a clip every N frames instead of --num-clips"}
    )
    ten_crop: bool | None = field(
        default=None, metadata={"help": "ViCC's variant: 10 crops per clip (corners, centre, mirrors)"}
    )
    eval_batch_size: int = field(default=32, metadata={"help": "crops per forward pass"})
    cache_dir: str | None = field(
        default=None, metadata={"help": "feature cache (default: OUTPUT_DIR/feature_cache)", "metavar": "DIR"}
    )
    no_cache: bool = field(default=False, metadata={"help": "always extract features again"})
    skip_bad_videos: bool = field(
        default=True,
        metadata={
            "help": "skip (and name in the report) videos that cannot be decoded; off: stop at the first"
        },
    )

    def processor_overrides(self) -> dict[str, Any]:
        """The processor fields this run sets (dense windows when window_stride is given)."""
        values = {
            "num_frames": self.num_frames,
            "frame_stride": self.frame_stride,
            "crop_size": self.crop_size,
            "frame_size": self.frame_size,
            "num_clips": self.num_clips,
            "window_stride": self.window_stride,
            "ten_crop": self.ten_crop,
        }
        values = {k: v for k, v in values.items() if v is not None}
        if self.window_stride is not None:
            values["sampling"] = "dense"
        return values


def load_backbone(
    model: str | None,
    backbone: str | None = None,
    backbone_overrides: dict[str, Any] | None = None,
    *,
    seed: int = 0,
) -> tuple[VsslBackboneModel, str]:
    """(backbone, a display name): `model` loaded with AutoModel, else a seeded random init of `backbone`."""
    if model is not None:
        if backbone is not None or backbone_overrides:
            raise ValueError("pass either --model (a checkpoint) or --backbone (a random init), not both")
        if not Path(model).exists() and model.count("/") != 1:
            raise FileNotFoundError(f"model {model}: no such folder, and not a Hub id (owner/name)")
        try:
            with quiet_loading():  # a pretraining checkpoint's heads are reported unused: expected
                loaded = AutoModel.from_pretrained(model)
        except OSError as err:  # a Hub id that cannot be fetched, or a folder without weights
            raise FileNotFoundError(f"could not load model {model}: {err}") from err
        except SafetensorError as err:  # a truncated or altered weights file
            raise ValueError(
                f"model {model}: its safetensors weights are damaged ({err}); export or download them again"
            ) from err
        if not isinstance(loaded, VsslBackboneModel):
            raise ValueError(f"{model} holds a {type(loaded).__name__}, not an hf-vssl video backbone")
        return loaded, display_name(model)
    if backbone is None:
        raise ValueError("name the network to evaluate: --model (a checkpoint) or --backbone (a random init)")
    config = AutoConfig.for_model(backbone_model_type(backbone), **(backbone_overrides or {}))
    torch.manual_seed(seed)
    return AutoModel.from_config(config), f"random init ({config.model_type.removeprefix('vssl-')})"


def display_name(model: str) -> str:
    """The name of a result row: a Hub id as is, a run's output folder (`runs/pace/model` -> "pace/model")."""
    path = Path(model)
    if not path.exists():
        return model
    path = path.resolve()
    return f"{path.parent.name}/{path.name}" if path.name in RUN_SUBFOLDERS else path.name


# the folders a run writes its models into (pretrain, finetune, probe): not names of their own
RUN_SUBFOLDERS = ("model", "finetuned", "linear_probe")


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Silence transformers' load report (missing weights still raise in `VsslPreTrainedModel`)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def default_processor(
    backbone: VsslBackboneModel, model: str | None = None, **overrides: Any
) -> VsslVideoProcessor:
    """The test clips of `backbone`: `overrides` > the processor saved in the folder `model` > the one
    its pretraining record implies > the papers' default."""
    if model is not None and (Path(model) / VsslVideoProcessor.config_name).is_file():
        processor = VsslVideoProcessor.from_pretrained(model)
    elif backbone.config.pretraining:
        processor = pretraining_config(backbone, model or "").video_processor()
    else:
        processor = VsslVideoProcessor()
    return dataclasses.replace(processor, **overrides)


def pretraining_config(backbone: VsslBackboneModel, source: str = ""):
    """The method config `backbone`'s pretraining record describes (`source` names it in errors);
    None for a backbone without a record (a random init or a converted plain backbone)."""
    record = backbone.config.pretraining
    if not record:
        return None
    from ..methods.registry import get_method

    return get_method(record["method"]).config_class.from_checkpoint_config(backbone.config, source)


def model_stream(backbone: VsslBackboneModel) -> str | None:
    """The stream `backbone` was pretrained on (its pretraining record's, e.g. ViCC's `stream`), None
    for a backbone without a record."""
    config = pretraining_config(backbone)
    return None if config is None else config.modality


def default_stream(backbone: VsslBackboneModel) -> str:
    """The stream a model reads unless told: its pretraining stream; without a record, flow for a
    2-channel network ((v, u)), else rgb."""
    return model_stream(backbone) or ("flow" if backbone.config.in_channels == 2 else "rgb")


def check_stream(backbone: VsslBackboneModel, name: str, stream: str) -> None:
    """A pretrained model evaluates only the stream it was trained on; any model only a stream whose
    clips have its input channels (flow: 3 = (128, v, u) or 2 = (v, u))."""
    if stream not in STREAM_COLUMNS:
        raise ValueError(f"stream must be one of {tuple(STREAM_COLUMNS)}, got {stream!r}")
    trained = model_stream(backbone)
    if trained is not None and stream != trained:
        raise ValueError(
            f"{name} was trained on the {trained} stream and cannot be evaluated on {stream} input; "
            f"use --stream {trained}"
        )
    channels = backbone.config.in_channels
    allowed = (2, 3) if stream == "flow" else (3,)
    if channels not in allowed:
        raise ValueError(
            f"{name} takes {channels}-channel clips, but {stream} clips have {' or '.join(map(str, allowed))} "
            f"channels; use the other --stream or set in_channels"
        )


def check_stream_column(dataset: datasets.DatasetDict, stream: str, splits: tuple[str, ...]) -> None:
    """Every row of `splits` has a video in the stream's column (flow: `hf-vssl extract-flow` was run)."""
    column = STREAM_COLUMNS[stream]
    fix = "compute flow videos with `hf-vssl extract-flow DATASET_ROOT` and load the dataset again"
    for split in splits:
        if column not in dataset[split].column_names:
            raise ValueError(
                f"--stream {stream} reads the '{column}' column, which split '{split}' lacks "
                f"(columns: {dataset[split].column_names}); "
                + (fix if stream == "flow" else "name the video column 'video'")
            )
        missing = [i for i, value in enumerate(dataset[split][column]) if not value]
        if missing:
            raise ValueError(
                f"--stream {stream}: {len(missing)} rows of split '{split}' have no '{column}' video "
                f"(first: row {missing[0]}); {fix}"
            )


@dataclass
class Evaluation:
    """One network on one dataset with one processor; extracts each split's clip features once."""

    backbone: VsslBackboneModel
    name: str
    dataset: datasets.DatasetDict
    processor: VsslVideoProcessor
    accelerator: Accelerator
    cache_dir: Path | None = None
    batch_size: int = 32
    num_workers: int = 2
    label_column: str = "label"
    skip_bad_videos: bool = True
    progress: bool = True
    stream: str = "rgb"

    def __post_init__(self) -> None:
        missing = {"train", "test"} - set(self.dataset)
        if missing:
            raise ValueError(
                f"evaluation needs 'train' and 'test' splits; the dataset lacks {sorted(missing)}"
            )
        self.dataset = as_video_dataset(self.dataset)  # any DatasetDict with a video column
        columns = self.dataset["train"].column_names
        if self.label_column not in columns:
            raise ValueError(
                f"the dataset has no label column '{self.label_column}'; columns: {columns}: name the class "
                "column with --label-column"
            )
        feature = self.dataset["train"].features[self.label_column]
        if not isinstance(feature, datasets.ClassLabel) and not (
            isinstance(feature, datasets.Value) and feature.dtype.startswith(("int", "uint"))
        ):
            raise ValueError(
                f"the label column '{self.label_column}' holds {feature}, not class indices; encode it first "
                f"(dataset.class_encode_column('{self.label_column}')) or name another with --label-column"
            )
        check_stream(self.backbone, self.name, self.stream)
        check_stream_column(self.dataset, self.stream, ("train", "test"))
        self.backbone.to(self.accelerator.device)
        self._features: dict[str, ClipOutputs] = {}
        self._skipped: dict[str, list[str]] = {}

    def note_skipped(self, split: str, videos: list[str]) -> None:
        """Record videos a caller's own pass over `split` skipped (finetune's test), for the report."""
        if videos:
            self._skipped[split] = list(videos)

    @property
    def class_names(self) -> list[str]:
        return class_names(self.dataset["train"], self.label_column)

    @property
    def video_column(self) -> str:
        return STREAM_COLUMNS[self.stream]

    def features(self, split: str) -> ClipOutputs:
        """Pooled backbone features of every clip of `split` (from the disk cache when present)."""
        if split not in self._features:
            self._features[split] = cached_backbone_features(
                self.backbone,
                self.dataset[split],
                self.processor,
                accelerator=self.accelerator,
                cache_dir=self.cache_dir,
                batch_size=self.batch_size,
                num_workers=self.num_workers,
                label_column=self.label_column,
                skip_corrupt=self.skip_bad_videos,
                progress=self.progress,
                video_column=self.video_column,
            )
        return self._features[split]

    def clip_outputs(self, network: Any, split: str, modules: tuple[torch.nn.Module, ...]) -> ClipOutputs:
        """`network`'s output for every test clip of `split` (not cached): (N, C, T, H, W) -> (N, K)."""
        return extract_clip_outputs(
            network,
            self.dataset[split],
            self.processor,
            accelerator=self.accelerator,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            modules=modules,
            label_column=self.label_column,
            video_column=self.video_column,
            in_channels=self.backbone.config.in_channels,
            skip_corrupt=self.skip_bad_videos,
            progress=self.progress,
        )

    def describe(self) -> dict[str, Any]:
        """The report's context: model, labels, test clips and every video skipped as undecodable."""
        skipped = {split: outputs.skipped for split, outputs in self._features.items() if outputs.skipped}
        skipped |= self._skipped
        return {
            "model": self.name,
            "label_column": self.label_column,
            "processor": self.processor.to_dict(),
            "skipped_videos": skipped,
            "stream": self.stream,
        }


def build_evaluation(
    data: DataArguments,
    args: EvaluationArguments,
    training: Any,
    *,
    cache: bool = True,
    trackers: bool = False,
) -> Evaluation:
    """The `Evaluation` of a command. training: the run's `TrainingArguments` (output folder, seed,
    device, precision, workers); trackers: log to `training.report_to` (a command that also trains)."""
    from ..training.loop import make_accelerator

    dataset = data.load()
    backbone, name = load_backbone(args.model, args.backbone, args.backbone_config, seed=training.seed)
    processor = default_processor(backbone, args.model, **args.processor_overrides())
    stream = args.stream or default_stream(backbone)
    cache_dir = None
    if cache and not args.no_cache:
        cache_dir = Path(args.cache_dir or Path(training.output_dir) / "feature_cache")
    return Evaluation(
        backbone=backbone,
        name=name,
        dataset=dataset,
        processor=processor,
        accelerator=make_accelerator(training, trackers=trackers),
        cache_dir=cache_dir,
        batch_size=args.eval_batch_size,
        num_workers=training.decoding_workers,
        label_column=args.label_column,
        skip_bad_videos=args.skip_bad_videos,
        progress=training.progress_bar,
        stream=stream,
    )
