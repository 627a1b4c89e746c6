"""Linear probe (docs/METHODS.md#downstream-protocols): a linear classifier on frozen features.

Two recipes. "features" (the default, fast): the backbone runs once, the pooled features of every
test-protocol clip of the training videos are extracted (and cached), and the head (L2 norm ->
BatchNorm -> linear, ViCC / CoCLR's released head, each part a switch) is trained on those clip
features. "released": ViCC / CoCLR's released probe, the head trained through the shared loop on augmented random clips with the
backbone frozen (SGD lr 0.1, 100 epochs, x0.1 at 60 and 80). Either way the test videos are scored by
the softmax averaged over their clips, and the trained head is written into a
`VsslForVideoClassification` with the frozen backbone, so the probe is a usable video classifier.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import datasets
import torch
import torch.nn.functional as F
from accelerate import Accelerator

from ..data.processor import VsslVideoProcessor
from ..models.modeling_utils import PROBE_NORM_ORDERS, VsslBackboneModel, VsslForVideoClassification
from ..training.loop import TrainingArguments, TrainResult
from .classifier import build_classifier, video_accuracy
from .features import ClipOutputs
from .finetune import FinetuneArguments, train_classifier

PROBE_RECIPES = ("features", "released")
# ViCC's released linear probe: slurm_scripts/eval/lin-rgb-2.sh / lin-flow-2.sh (--train_what last --optim
# sgd --lr 1e-1 --wd 1e-3 --epochs 100 --schedule 60 80, --batch_size 32 per GPU on 4 GPUs) and
# src/eval/main_classifier.py (SGD momentum 0.9; train_what "last": final_bn + final_norm, no dropout;
# training clips: RandomSizedCrop(bottom_area=0.2), ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.3, consistent),
# RandomHorizontalFlip, ImageNet Normalize); CoCLR's eval/main_classifier.py is the same.
RELEASED_PROBE = FinetuneArguments(
    epochs=100,
    batch_size=128,
    learning_rate=0.1,
    backbone_lr_multiplier=0.0,
    optimizer="sgd",
    momentum=0.9,
    weight_decay=1e-3,
    lr_schedule="step",
    lr_milestones=[60, 80],
    dropout=0.0,
    crop_scale=[0.2, 1.0],
    flip_p=0.5,
    color_jitter=[0.4, 0.4, 0.4, 0.1],
    color_jitter_p=0.3,
)


@dataclass
class ProbeArguments:
    """Head training on cached features. The papers give no probe recipe; these are the usual
    feature-probe settings (Adam, 100 epochs) under the released probe head: L2 -> BatchNorm -> linear.

    The head is ViCC / CoCLR's (`eval/main_classifier.py`, `--train_what last` sets final_norm and
    final_bn; CoCLR's feature probe runs with `--final_bn`). Without it a probe measures the scale of the
    features as well as what they tell apart: a random init's pooled features are ~100x smaller than a
    trained network's, and an unnormalised head under the same learning rate and weight decay scores
    them lower for it. `--no-probe-l2 --no-probe-batchnorm` gives the plain linear head."""

    epochs: int = field(default=100, metadata={"help": "epochs over the cached features"})
    learning_rate: float = field(
        default=1e-3, metadata={"help": "Adam learning rate", "aliases": ("--probe-lr",)}
    )
    weight_decay: float = 1e-3
    batch_size: int = field(default=256, metadata={"help": "clips per step"})
    batchnorm: bool = field(
        default=True,
        metadata={
            "help": "BatchNorm1d before the linear layer (ViCC / CoCLR's released probe head)",
            "aliases": ("--probe-bn",),
        },
    )
    l2_norm: bool = field(
        default=True,
        metadata={
            "help": "L2-normalise before the linear layer (ViCC / CoCLR's released probe head)",
            "aliases": ("--probe-l2",),
        },
    )
    dropout: float = field(default=0.0, metadata={"help": "dropout before the linear layer"})
    norm_order: str = field(
        default="l2_bn",
        metadata={
            "help": "order of L2 and BatchNorm: l2_bn as ViCC/CoCLR's released classifier, bn_l2 BN first",
            "choices": PROBE_NORM_ORDERS,
        },
    )
    recipe: str = field(
        default="features",
        metadata={
            "help": "features: train the head on cached test-clip features (fast); released: ViCC/CoCLR's "
            "probe, the head trained on augmented random clips through the training loop (SGD lr 0.1, "
            "batch 128, x0.1 at epochs 60 and 80, --probe-epochs epochs, L2 + BN, no dropout)",
            "choices": PROBE_RECIPES,
        },
    )
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"probe {name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0 or self.weight_decay < 0:
            raise ValueError("probe learning_rate must be > 0 and weight_decay >= 0")
        if self.recipe not in PROBE_RECIPES:
            raise ValueError(f"probe recipe must be one of {PROBE_RECIPES}, got {self.recipe!r}")


def train_probe_head(
    classifier: VsslForVideoClassification, train: ClipOutputs, args: ProbeArguments
) -> list[float]:
    """Fit the classifier's head on train clip features: (N, D) with each clip labelled by its video.

    Returns the mean loss of every epoch (deterministic given args.seed)."""
    features = train.outputs
    labels = train.labels[train.video_index]
    head = [p for name, p in classifier.named_parameters() if not name.startswith("backbone.")]
    optimizer = torch.optim.Adam(head, lr=args.learning_rate, weight_decay=args.weight_decay)
    generator = torch.Generator().manual_seed(args.seed)
    classifier.train()
    losses = []
    for _ in range(args.epochs):
        order = torch.randperm(len(features), generator=generator)
        total = 0.0
        for batch in order.split(args.batch_size):
            if len(batch) < 2 and classifier.probe_bn is not None:
                continue  # BatchNorm cannot train on a single sample
            loss = F.cross_entropy(classifier.forward_head(features[batch]), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        losses.append(total / len(features))
    classifier.eval()
    return losses


@torch.no_grad()
def probe_clip_logits(classifier: VsslForVideoClassification, clips: ClipOutputs) -> ClipOutputs:
    classifier.eval()
    return ClipOutputs(classifier.forward_head(clips.outputs), clips.video_index, clips.labels, clips.rows)


def linear_probe(
    backbone: VsslBackboneModel,
    train: ClipOutputs,
    test: ClipOutputs,
    class_names: Sequence[str],
    args: ProbeArguments,
) -> tuple[dict[str, float], VsslForVideoClassification]:
    """Train the probe on `train` features, score `test` videos: ({"top1", "top5"}, the classifier)."""
    torch.manual_seed(args.seed)
    classifier = build_classifier(
        backbone,
        class_names,
        freeze_backbone=True,
        dropout=args.dropout,
        probe_batchnorm=args.batchnorm,
        probe_l2_norm=args.l2_norm,
        probe_norm_order=args.norm_order,
    )
    train_probe_head(classifier, train, args)
    return video_accuracy(probe_clip_logits(classifier, test)), classifier


def released_linear_probe(
    backbone: VsslBackboneModel,
    dataset: datasets.DatasetDict,
    class_names: Sequence[str],
    processor: VsslVideoProcessor,
    args: ProbeArguments,
    training: TrainingArguments,
    *,
    accelerator: Accelerator,
    stream: str = "rgb",
    recipe: FinetuneArguments = RELEASED_PROBE,
) -> tuple[dict[str, float], VsslForVideoClassification, TrainResult, ClipOutputs]:
    """ViCC / CoCLR's released probe: the frozen backbone (in eval mode) under an L2 + BatchNorm + linear
    head trained on augmented random clips of dataset["train"] for `args.epochs` epochs of `recipe`,
    then the multi-clip test: ({"top1", "top5"}, the classifier, the training result, the test logits)."""
    torch.manual_seed(training.seed)
    classifier = build_classifier(
        backbone,
        class_names,
        freeze_backbone=True,
        dropout=recipe.dropout,
        probe_batchnorm=True,
        probe_l2_norm=True,
        probe_norm_order=args.norm_order,
    )
    recipe = dataclasses.replace(recipe, epochs=args.epochs)  # both default to the release's 100
    return train_classifier(
        classifier, dataset, processor, recipe, training, accelerator=accelerator, stream=stream
    )
