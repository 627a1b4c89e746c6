"""MFO's samples and views: the frames each sample decodes (CPU workers) and how a batch of decoded
clips becomes the model's inputs (batched, on the accelerator)."""

from __future__ import annotations

import torch
from torch import nn

from ...data.augment import ClipAugment
from ...data.samplers import WindowSampler
from .configuration_mfo import MFOConfig


def build_sampler(config: MFOConfig) -> WindowSampler:
    """2 x num_frames consecutive frames at a random stride: "clip0" / "clip1" the two halves (the
    positives), "overview" every second frame of the window (MFO supp. §2; docs/METHODS.md#mfo)."""
    return WindowSampler(
        num_frames=config.num_frames, max_stride=config.max_stride, continuous_stride=config.continuous_stride
    )


def clip_augment(config: MFOConfig) -> ClipAugment:
    """One clip's augmentation: random resized crop, flip, colour jitter, channel-split grey (the
    released RandomGray, per frame by default), Gaussian blur, ImageNet normalisation."""
    return ClipAugment(
        config.crop_size,
        scale=tuple(config.crop_scale),
        ratio=tuple(config.crop_ratio),
        flip_p=config.flip_p,
        color_jitter=config.color_jitter,
        jitter_p=config.color_jitter_p,
        jitter_per_frame=config.color_jitter_per_frame,
        grayscale_p=config.grayscale_p,
        grayscale_mode="channel",
        grayscale_per_frame=config.grayscale_per_frame,
        grayscale_channel_per_frame=config.grayscale_channel_per_frame,
        crop_sampler=config.crop_sampler,
        blur_sigma=tuple(config.blur_sigma),
        blur_p=config.blur_p,
    )


class MFOAugment(nn.Module):
    """batch["views"] uint8 (B, T, H, W, C) -> {"clips": (B, 2, 3, T, S, S), "overview": (B, 3, T, S, S)}.

    Each of the three clips gets its own random parameters (MFO supp. §2: per-clip augmentation, the
    released dataloader transforms each clip separately). The overview is only built while timestamp
    retrieval is on.
    """

    def __init__(self, config: MFOConfig) -> None:
        super().__init__()
        self.use_overview = config.use_ret_loss
        self.augment = clip_augment(config)

    def forward(self, batch: dict, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        views = batch["views"]
        inputs = {
            "clips": torch.stack(
                [self.augment(views[f"clip{i}"], generator=generator) for i in range(2)], dim=1
            )
        }
        if self.use_overview:
            inputs["overview"] = self.augment(views["overview"], generator=generator)
        return inputs
