"""ViCC's samples and views: which frames each sample decodes (CPU workers) and how a batch of
decoded clips becomes the two augmented views per stream (batched, on the accelerator)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ...data.augment import ClipAugment, StrongWeakViews
from ...data.samplers import SampledClips, TwoClipSampler
from .configuration_vicc import ViCCConfig


@dataclass(frozen=True)
class ViCCSampler:
    """Two random clips of `num_frames` frames per video: "clip0"/"clip1" for RGB, "flow0"/"flow1" for
    flow at the same frame indices (ViCC supp.: same indices for RGB and flow); only `streams` are read."""

    num_frames: int
    streams: tuple[str, ...]

    def __call__(self, video_frames: int, rng: np.random.Generator) -> SampledClips:
        clips = TwoClipSampler(num_frames=self.num_frames)(video_frames, rng).views
        views = {}
        for i in range(2):
            if "rgb" in self.streams:
                views[f"clip{i}"] = clips[f"clip{i}"]
            if "flow" in self.streams:
                views[f"flow{i}"] = clips[f"clip{i}"]
        return SampledClips(views)


def build_sampler(config: ViCCConfig) -> ViCCSampler:
    return ViCCSampler(config.num_frames, config.streams)


class ViCCAugment(nn.Module):
    """batch["views"] uint8 (B, T, H, W, C) -> {"rgb": (B, 2, 3, T, S, S), "flow": (B, 2, C_flow, T, S, S)}.

    Views get crop, flip and the colour ops (strong / weak as the released code, see `StrongWeakViews`).
    A paired flow clip shares its RGB clip's crop and flip and, with `flow_colour_augment` (the released
    code), its colour ops with the same parameters; flow alone (Flow-1) gets the full policy too. Flow is
    mirrored like an image (the released code; u is not negated), in every stage, so the frozen flow
    stream of stage 2 sees the flips it was trained on. flow_channels=2 drops the constant channel of the
    (128, v, u) encoding after normalisation.
    """

    def __init__(self, config: ViCCConfig) -> None:
        super().__init__()
        self.streams = config.streams
        self.flow_channels = config.flow_channels
        geometry: dict[str, Any] = {
            "scale": tuple(config.crop_scale),
            "flip_p": config.flip_p,
            "crop_sampler": config.crop_sampler,
            "flow_flip_negates_u": False,
        }
        colour: dict[str, Any] = {
            "color_jitter": config.color_jitter,
            "jitter_p": config.color_jitter_p,
            "grayscale_p": config.grayscale_p,
            "grayscale_mode": "channel",  # released RandomGray: one random channel copied to all three
            "grayscale_channel_per_frame": config.grayscale_channel_per_frame,
            "blur_sigma": tuple(config.blur_sigma),
            "blur_p": config.blur_p,
        }
        if "rgb" in self.streams:
            augment = ClipAugment(
                config.crop_size, **colour, **geometry, paired_colour=config.flow_colour_augment
            )
        else:  # Flow-1: flow is the only stream
            augment = ClipAugment(
                config.crop_size, **(colour if config.flow_colour_augment else {}), **geometry
            )
        self.views = StrongWeakViews(augment, one_clip_p=config.one_clip_p, strong_p=config.strong_p)

    def _flow(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, 2, 3, T, S, S) normalised flow -> the model's flow channels."""
        return clips[:, :, 1:] if self.flow_channels == 2 else clips

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        views = batch["views"]
        if "rgb" not in self.streams:
            flow0, flow1 = self.views(views["flow0"], views["flow1"])
            return {"flow": self._flow(torch.stack([flow0, flow1], dim=1))}
        if "flow" not in self.streams:
            rgb0, rgb1 = self.views(views["clip0"], views["clip1"])
            return {"rgb": torch.stack([rgb0, rgb1], dim=1)}
        (rgb0, flow0), (rgb1, flow1) = self.views(
            views["clip0"], views["clip1"], views["flow0"], views["flow1"]
        )
        return {
            "rgb": torch.stack([rgb0, rgb1], dim=1),
            "flow": self._flow(torch.stack([flow0, flow1], dim=1)),
        }


def uses_flow(config: ViCCConfig) -> bool:
    """Flow-1 and every cross-stream round read the optical-flow video of each row."""
    return "flow" in config.streams
