"""Pace Prediction's samples and views: clips at sampled paces (CPU workers) and the original
augmentation on the accelerator (random crop 112 of 128x171, flip, per-frame colour jitter)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...data.augment import ClipAugment
from ...data.samplers import PaceSampler
from .configuration_pace import PaceConfig


def build_sampler(config: PaceConfig) -> PaceSampler:
    """Views "clip0" (and "clip1" for same-context contrast, at a different pace), targets "pace0"..."""
    return PaceSampler(
        clip_len=config.num_frames,
        paces=tuple(config.pace_fractions),
        backward=config.backward_mode,
        end_policy=config.end_policy,
        start_anywhere=config.start_anywhere,
        num_clips=config.clips_per_video,
        distinct_paces=True,
    )


class PaceAugment(nn.Module):
    """batch {"views": {"clip0": uint8 (B, T, H, W, C), ...}, "targets": {"pace0": (B,), ...}} ->
    {"clips": (B, V, 3, T, S, S), "pace_labels": (B, V)}; each clip gets its own crop and flip."""

    def __init__(self, config: PaceConfig) -> None:
        super().__init__()
        self.views = config.clips_per_video
        brightness, contrast, saturation, hue = config.color_jitter
        self.augment = ClipAugment(
            config.crop_size,
            crop="random" if config.crop_scale is None else "resized",
            scale=tuple(config.crop_scale or (1.0, 1.0)),
            ratio=tuple(config.crop_ratio),
            flip_p=config.flip_p,
            brightness=brightness,
            contrast=contrast,
            saturation=saturation,
            hue=hue,
            jitter_p=config.color_jitter_p,
            jitter_per_frame=True,
        )

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        clips = torch.stack([self.augment(batch["views"][f"clip{i}"]) for i in range(self.views)], dim=1)
        labels = torch.stack([batch["targets"][f"pace{i}"] for i in range(self.views)], dim=1)
        return {"clips": clips, "pace_labels": labels.long()}
