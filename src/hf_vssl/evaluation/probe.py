"""Linear probe (METHODS.md "Downstream protocols"): a linear classifier on frozen features.

The backbone runs once: the pooled features of every test-protocol clip of the training videos
are extracted (and cached), the head (optional BatchNorm + L2 norm as in ViCC, dropout, linear)
is trained on those clip features, and the test videos are scored by the softmax averaged over
their clips. The trained head is written into a `VsslForVideoClassification` with the frozen
backbone, so the probe is a usable video classifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..models.modeling_utils import VsslBackboneModel, VsslForVideoClassification
from .classifier import build_classifier, video_accuracy
from .features import ClipOutputs


@dataclass
class ProbeArguments:
    """Head training on cached features. The seeds give no probe recipe; these are the usual
    feature-probe settings (Adam, 100 epochs). batchnorm + l2_norm: ViCC / CoCLR's probe head."""

    epochs: int = field(default=100, metadata={"help": "epochs over the cached features"})
    learning_rate: float = field(
        default=1e-3, metadata={"help": "Adam learning rate", "aliases": ("--probe-lr",)}
    )
    weight_decay: float = 1e-3
    batch_size: int = field(default=256, metadata={"help": "clips per step"})
    batchnorm: bool = field(
        default=False,
        metadata={"help": "BatchNorm1d before the linear layer (ViCC)", "aliases": ("--probe-bn",)},
    )
    l2_norm: bool = field(
        default=False,
        metadata={"help": "L2-normalise before the linear layer (ViCC)", "aliases": ("--probe-l2",)},
    )
    dropout: float = field(default=0.0, metadata={"help": "dropout before the linear layer"})
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"probe {name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0 or self.weight_decay < 0:
            raise ValueError("probe learning_rate must be > 0 and weight_decay >= 0")


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
    return ClipOutputs(classifier.forward_head(clips.outputs), clips.video_index, clips.labels)


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
    )
    train_probe_head(classifier, train, args)
    return video_accuracy(probe_clip_logits(classifier, test)), classifier
