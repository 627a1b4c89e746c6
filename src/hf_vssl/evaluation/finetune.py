"""Finetuning (docs/METHODS.md#downstream-protocols): every weight trained, a new classifier, dropout
before it; trained by the shared Accelerate loop, tested with the multi-clip protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
from accelerate import Accelerator
from torch import nn

from ..data.processor import VsslVideoProcessor
from ..data.test_clips import STREAM_COLUMNS, model_input
from ..models.modeling_utils import VsslBackboneModel, VsslForVideoClassification
from ..optim.recipe import LR_SCHEDULES, OPTIMIZERS, OptimizerRecipe
from ..training.loop import TrainingArguments, TrainResult, fit
from .classifier import build_classifier, video_accuracy
from .features import ClipOutputs, extract_clip_outputs


@dataclass
class FinetuneArguments:
    """The papers give no finetune recipe; these are common UCF-101 finetune settings. The backbone's
    learning rate is learning_rate x backbone_lr_multiplier (the new head's is learning_rate)."""

    epochs: int = 50
    batch_size: int = field(default=32, metadata={"help": "global batch per optimizer step"})
    learning_rate: float = field(
        default=0.01, metadata={"help": "learning rate of the new head", "aliases": ("--lr",)}
    )
    backbone_lr_multiplier: float = field(default=1.0, metadata={"help": "backbone lr = lr x this"})
    optimizer: str = field(default="sgd", metadata={"choices": OPTIMIZERS})
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_schedule: str = field(default="cosine", metadata={"choices": LR_SCHEDULES})
    lr_milestones: list[int] = field(
        default_factory=list, metadata={"help": "epochs of x0.1 for the step schedule"}
    )
    dropout: float = field(default=0.5, metadata={"help": "dropout before the new classifier"})
    # random resized crop area, then the processor's crop size
    crop_scale: list[float] = field(default_factory=lambda: [0.3, 1.0], metadata={"metavar": ("MIN", "MAX")})
    flip_p: float = 0.5
    color_jitter: list[float] = field(
        default_factory=lambda: [0.0, 0.0, 0.0, 0.0],
        metadata={
            "help": "brightness, contrast, saturation, hue of the clip's jitter",
            "metavar": ("B", "C", "S", "H"),
        },
    )
    color_jitter_p: float = field(default=0.0, metadata={"help": "probability of the jitter per clip"})

    def __post_init__(self) -> None:
        if self.backbone_lr_multiplier < 0:
            raise ValueError(f"backbone_lr_multiplier must be >= 0, got {self.backbone_lr_multiplier}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def recipe(self) -> OptimizerRecipe:
        return OptimizerRecipe(
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            momentum=self.momentum,
            lr_schedule=self.lr_schedule,
            lr_milestones=tuple(self.lr_milestones),
        )


class ClassificationAugment(nn.Module):
    """A batch of one-clip samples -> {"pixel_values", "labels"}: random resized crop, flip and colour
    jitter of each clip (the same for all its frames), normalised, in the network's `in_channels` (`model_input`).
    Flow clips are mirrored like images, as ViCC's classifier training does."""

    def __init__(self, crop_size: tuple[int, int], args: FinetuneArguments, in_channels: int = 3) -> None:
        super().__init__()
        from ..data.augment import ClipAugment

        self.augment = ClipAugment(
            crop_size,
            scale=tuple(args.crop_scale),
            flip_p=args.flip_p,
            color_jitter=args.color_jitter,
            jitter_p=args.color_jitter_p,
        )
        self.in_channels = in_channels

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        pixel_values = model_input(self.augment(batch["views"]["clip"]), self.in_channels)
        return {"pixel_values": pixel_values, "labels": batch["label"]}


def finetune(
    backbone: VsslBackboneModel,
    dataset: datasets.DatasetDict,
    class_names: Sequence[str],
    processor: VsslVideoProcessor,
    args: FinetuneArguments,
    training: TrainingArguments,
    *,
    accelerator: Accelerator,
    stream: str = "rgb",
    save_dir: Path | None = None,
    skip_corrupt: bool = True,
) -> tuple[dict[str, float], VsslForVideoClassification, TrainResult, ClipOutputs]:
    """Train backbone + a new head on dataset["train"] (random clips of the processor's length, decoded
    at its frame size), then score dataset["test"] with the processor's test clips: ({"top1", "top5"},
    the classifier, the training result, the logits of every test clip). stream: "rgb" or "flow"
    (the videos of the "flow" column). save_dir: where the trained classifier is saved BEFORE the
    test, so a failure while testing loses nothing trained."""
    torch.manual_seed(training.seed)
    classifier = build_classifier(backbone, class_names, freeze_backbone=False, dropout=args.dropout)
    backbone_params = list(classifier.backbone.parameters())
    head_params = [p for n, p in classifier.named_parameters() if not n.startswith("backbone.")]
    groups = [
        {"params": backbone_params, "lr": args.learning_rate * args.backbone_lr_multiplier},
        {"params": head_params, "lr": args.learning_rate},
    ]
    return train_classifier(
        classifier,
        dataset,
        processor,
        args,
        training,
        accelerator=accelerator,
        stream=stream,
        param_groups=groups,
        save_dir=save_dir,
        skip_corrupt=skip_corrupt,
    )


def train_classifier(
    classifier: VsslForVideoClassification,
    dataset: datasets.DatasetDict,
    processor: VsslVideoProcessor,
    args: FinetuneArguments,
    training: TrainingArguments,
    *,
    accelerator: Accelerator,
    stream: str = "rgb",
    param_groups: list[dict[str, Any]] | None = None,
    save_dir: Path | None = None,
    skip_corrupt: bool = True,
) -> tuple[dict[str, float], VsslForVideoClassification, TrainResult, ClipOutputs]:
    """Train `classifier`'s trainable weights (param_groups, default: all that require a gradient) on
    augmented random clips of dataset["train"], save it into `save_dir`, then the multi-clip test of
    dataset["test"]."""
    from ..data.clip_dataset import VideoClipDataset
    from ..data.samplers import SingleClipSampler

    train = VideoClipDataset(
        dataset["train"],
        SingleClipSampler(num_frames=processor.num_frames, stride=processor.frame_stride),
        frame_size=processor.frame_size,
        video_column=STREAM_COLUMNS[stream],
        seed=training.seed,
    )
    in_channels = classifier.config.in_channels
    augment = ClassificationAugment(tuple(processor.crop_size), args, in_channels)
    result = fit(
        classifier,
        train,
        augment,
        args.recipe(),
        training,
        accelerator=accelerator,
        param_groups=param_groups,
    )
    if save_dir is not None and accelerator.is_main_process:
        accelerator.unwrap_model(classifier).save_pretrained(save_dir)
    accelerator.wait_for_everyone()
    logits = extract_clip_outputs(
        lambda pixel_values: classifier(pixel_values).logits,
        dataset["test"],
        processor,
        accelerator=accelerator,
        modules=(classifier,),
        video_column=STREAM_COLUMNS[stream],
        in_channels=in_channels,
        skip_corrupt=skip_corrupt,
        progress=training.progress_bar,
    )
    return video_accuracy(logits), classifier, result, logits
