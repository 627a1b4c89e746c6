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
        num_frames=config.num_frames,
        paces=tuple(config.pace_fractions),
        backward=config.backward_mode,
        end_policy=config.end_policy,
        start_anywhere=config.start_anywhere,
        num_clips=config.clips_per_video,
        distinct_paces=True,
    )


class PaceAugment(nn.Module):
    """batch {"views": {"clip0": uint8 (B, T, H, W, C), ...}, "targets": {"pace0": (B,), ...}} ->
    {"clips": (B, V, 3, T, S, S), "pace_labels": (B, V)}; each clip gets its own crop and flip.

    input_format "bgr_255" (the release) reverses the channels before the augmentation, so the colour
    jitter runs on BGR frames as if they were RGB, and scales the result to 0-255 without normalisation;
    "rgb_imagenet" gives RGB normalised with the ImageNet statistics."""

    def __init__(self, config: PaceConfig) -> None:
        super().__init__()
        self.views = config.clips_per_video
        self.bgr_255 = config.input_format == "bgr_255"
        self.augment = ClipAugment(
            config.crop_size,
            crop="random" if config.crop_scale is None else "resized",
            scale=tuple(config.crop_scale or (1.0, 1.0)),
            ratio=tuple(config.crop_ratio),
            flip_p=config.flip_p,
            color_jitter=config.color_jitter,
            jitter_p=config.color_jitter_p,
            jitter_per_frame=True,
            normalize=not self.bgr_255,
        )

    def _clip(self, frames: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if not self.bgr_255:
            return self.augment(frames, generator=generator)
        return self.augment(frames.flip(-1), generator=generator).mul_(255.0)  # released: cv2 BGR, 0-255

    def forward(
        self, batch: dict[str, Any], generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        views, targets = batch["views"], batch["targets"]
        clips = torch.stack([self._clip(views[f"clip{i}"], generator) for i in range(self.views)], dim=1)
        labels = torch.stack([targets[f"pace{i}"] for i in range(self.views)], dim=1)
        return {"clips": clips, "pace_labels": labels.long()}
