"""SDC's samples and views (SDC supp. §1): the frames each sample decodes (CPU workers) and the six
views built from a batch of decoded clips (batched, on the accelerator).

For each of the two clips: a temporally consistent random resized crop and flip; the static view is
one frame of the clip under the same crop and flip, repeated over time; colour jitter (and grey)
and Gaussian blur are drawn separately for the clip and its static view; the difference view is the
difference of adjacent frames of the augmented clip: T differences of its T frames, the first wrapping
around (released dataloader.py `torch.roll`), or with `difference_wrap=False` of T + 1 decoded frames.
"""

from __future__ import annotations

import torch
from torch import nn

from ...data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    color_jitter,
    frame_difference,
    gaussian_blur,
    normalize,
    random_grayscale,
    random_resized_crop,
    sample_crop_params,
)
from ...data.samplers import WindowSampler
from .configuration_sdc import SDCConfig


def build_sampler(config: SDCConfig) -> WindowSampler:
    """Two consecutive clips of num_frames at a random stride ("clip0", "clip1"), each with its static frame
    ("static0", "static1") and, without `difference_wrap`, with one more frame ("diff0", "diff1") for its
    frame differences."""
    return WindowSampler(
        num_frames=config.num_frames,
        max_stride=config.max_stride,
        static=True,
        difference=not config.difference_wrap,
        continuous_stride=config.continuous_stride,
        shared_static_offset=config.shared_static_offset,
    )


class SDCAugment(nn.Module):
    """batch["views"] uint8 (B, T, H, W, C) -> {"clips", "static_clips", "difference_clips"}, each
    (B, 2, 3, T, S, S), normalised with the ImageNet statistics."""

    def __init__(self, config: SDCConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD), persistent=False)

    def _colour(
        self, clips: torch.Tensor, generator: torch.Generator | None, channel_per_frame: bool
    ) -> torch.Tensor:
        """Colour jitter, grey, blur (one draw per clip, all frames alike but the grey channel with
        `channel_per_frame`), then normalisation."""
        config = self.config
        clips = color_jitter(clips, *config.color_jitter, p=config.color_jitter_p, generator=generator)
        clips = random_grayscale(
            clips, config.grayscale_p, generator, mode="channel", channel_per_frame=channel_per_frame
        )
        clips = gaussian_blur(clips, tuple(config.blur_sigma), config.blur_p, generator)
        return normalize(clips, self.mean, self.std)

    def views(
        self, window: torch.Tensor, static: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """window: uint8 (B, T, H, W, C), the clip (B, T + 1, ...: the clip and the next frame without
        `difference_wrap`); static: uint8 (B, T, H, W, C), one frame repeated. Returns the clip, static and
        difference views, each float (B, 3, T, S, S)."""
        config = self.config
        batch, steps, height, width, _ = window.shape
        device = window.device
        boxes = sample_crop_params(
            batch,
            height,
            width,
            tuple(config.crop_scale),
            tuple(config.crop_ratio),
            generator,
            sampler=config.crop_sampler,
            device=device,
        )
        draw_device = generator.device if generator is not None else device
        flip = torch.rand(batch, generator=generator, device=draw_device) < config.flip_p
        window = random_resized_crop(window, config.crop_size, boxes, flip)
        window = self._colour(window, generator, config.grayscale_channel_per_frame)
        # SDC supp. §1: the static view has no temporal dynamics, so its grey channel is one per clip
        still = self._colour(
            random_resized_crop(static[:, :1], config.crop_size, boxes, flip), generator, False
        )
        if config.difference_wrap:  # released dataloader.py: res = rgb - torch.roll(rgb, 1, 2)
            return window, still.expand(-1, -1, steps, -1, -1), window - window.roll(1, dims=2)
        return window[:, :, :-1], still.expand(-1, -1, steps - 1, -1, -1), frame_difference(window)

    def forward(self, batch: dict, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        views = batch["views"]
        window = "clip" if self.config.difference_wrap else "diff"
        built = [self.views(views[f"{window}{i}"], views[f"static{i}"], generator) for i in range(2)]
        clips, statics, differences = (torch.stack(parts, dim=1) for parts in zip(*built))
        return {"clips": clips, "static_clips": statics, "difference_clips": differences}
