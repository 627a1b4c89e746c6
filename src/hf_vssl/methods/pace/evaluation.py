"""Pace prediction accuracy of a pretrained Pace model on a held-out split (Pace Prediction supp. Table 1,
"rea. acc.").

The release logs the accuracy of training batches only; Pace Prediction supp. Table 1 reports it beside
UCF-101 accuracy, so here it is measured on the test split. Our reading of the protocol: every video of the
split once, its clips drawn by the training pace sampler at a fixed seed (same paces, starts and
directions on every run), centre-cropped without flip or colour jitter, normalised as in training.
"""

from __future__ import annotations

import datasets
import torch
from torch.utils.data import DataLoader

from ...data.augment import ClipAugment
from ...data.clip_dataset import VideoClipDataset
from .configuration_pace import PaceConfig
from .modeling_pace import PaceForPretraining
from .views import PaceAugment, build_sampler


class PaceEvaluationViews(PaceAugment):
    """The training views of `PaceAugment` with a centre crop instead of the random crop, flip and jitter
    (the normalisation is the training one)."""

    def __init__(self, config: PaceConfig) -> None:
        super().__init__(config)
        train = self.augment
        self.augment = ClipAugment(
            config.crop_size, crop="center", normalize=train.normalize, mean=train.mean, std=train.std
        )


@torch.no_grad()
def pace_accuracy(
    model: PaceForPretraining,
    dataset: datasets.Dataset,
    *,
    seed: int = 0,
    batch_size: int = 8,
    num_workers: int = 0,
) -> float:
    """Fraction of clips of `dataset` (one split: rows with a video path column) whose pace class the
    model predicts, with the model's own pace sampler seeded by `seed`. Every video counts (an
    undecodable one is an error, not skipped); with same-context contrast each video gives two clips."""
    config = model.config
    device = next(model.parameters()).device
    clips = VideoClipDataset(
        dataset, build_sampler(config), frame_size=tuple(config.frame_size), seed=seed, skip_corrupt=False
    )
    loader = DataLoader(clips, batch_size=batch_size, num_workers=num_workers)
    views = PaceEvaluationViews(config).to(device)
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        for batch in loader:
            on_device = {
                group: {k: v.to(device) for k, v in batch[group].items()} for group in ("views", "targets")
            }
            inputs = views(on_device)
            logits = model(**inputs).logits
            labels = inputs["pace_labels"].flatten()
            correct += int((logits.argmax(dim=1) == labels).sum())
            total += labels.numel()
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("pace_accuracy got an empty dataset split: pass a split with at least one video")
    return correct / total


__all__ = ["PaceEvaluationViews", "pace_accuracy"]
