"""Batched, temporally consistent clip augmentations on torch tensors (run on the accelerator).

Every op takes float clips (B, C, T, H, W) on any device and per-sample random parameters (B of them), the
same for all T frames of a clip (except the per-frame colour jitter that Pace Prediction used). Parameters are
drawn on the generator's device (CPU by default) and moved to the clips' device, so a seeded
`torch.Generator` gives the same augmentation on CPU and GPU. Colour ops are never applied to optical flow:
a paired flow clip only shares the crop and flip of its RGB clip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# ITU-R 601 luma, as torchvision's rgb_to_grayscale
GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def _rand(shape: Sequence[int], generator: torch.Generator | None) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn on the generator's device (CPU without one)."""
    device = generator.device if generator is not None else "cpu"
    return torch.rand(tuple(shape), generator=generator, device=device)


def _uniform(
    low: float, high: float, shape: Sequence[int], generator: torch.Generator | None
) -> torch.Tensor:
    return low + (high - low) * _rand(shape, generator)


def _bernoulli(p: float, shape: Sequence[int], generator: torch.Generator | None) -> torch.Tensor:
    return _rand(shape, generator) < p


def _per_sample(values: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    """(B,) or (B, T) parameters -> broadcastable against clips (B, C, T, H, W)."""
    values = values.to(clips.device)
    return values.view(values.shape[0], 1, -1, 1, 1)


def to_float_clips(clips: torch.Tensor) -> torch.Tensor:
    """uint8 (B, T, H, W, C) -> float (B, C, T, H, W) in [0, 1] (a channels_last_3d view, no copy of layout)."""
    if clips.ndim != 5 or clips.dtype != torch.uint8:
        raise ValueError(
            f"to_float_clips expects uint8 (B, T, H, W, C), got {clips.dtype} {tuple(clips.shape)}"
        )
    return clips.permute(0, 4, 1, 2, 3).float().div_(255.0)


def sample_crop_params(
    batch: int,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
    attempts: int = 10,
) -> torch.Tensor:
    """Random-resized-crop boxes as torchvision draws them, one per clip: float (B, 4) = (top, left, h, w) px.

    Area fraction uniform in `scale`, aspect ratio log-uniform in `ratio`; the first of `attempts` draws that
    fits is kept, else a centre crop at the closest valid ratio.
    """
    area = _uniform(scale[0], scale[1], (batch, attempts), generator) * (height * width)
    log_ratio = _uniform(math.log(ratio[0]), math.log(ratio[1]), (batch, attempts), generator)
    aspect = torch.exp(log_ratio)
    crop_w = torch.sqrt(area * aspect).round()
    crop_h = torch.sqrt(area / aspect).round()
    fits = (crop_w >= 1) & (crop_w <= width) & (crop_h >= 1) & (crop_h <= height)
    first = fits.float().argmax(dim=1, keepdim=True)
    crop_h, crop_w = crop_h.gather(1, first).squeeze(1), crop_w.gather(1, first).squeeze(1)

    # fallback (no draw fits): torchvision's centre crop with the ratio clamped to the range
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fallback_w, fallback_h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        fallback_w, fallback_h = round(height * ratio[1]), height
    else:
        fallback_w, fallback_h = width, height
    any_fits = fits.any(dim=1)
    crop_h = torch.where(any_fits, crop_h, torch.full_like(crop_h, fallback_h))
    crop_w = torch.where(any_fits, crop_w, torch.full_like(crop_w, fallback_w))
    offsets = _rand((batch, 2), generator)
    top = torch.where(any_fits, (offsets[:, 0] * (height - crop_h + 1)).floor(), (height - crop_h) // 2)
    left = torch.where(any_fits, (offsets[:, 1] * (width - crop_w + 1)).floor(), (width - crop_w) // 2)
    return torch.stack([top, left, crop_h, crop_w], dim=1)


def check_crop_fits(crop_size: int | Sequence[int], frame_size: Sequence[int]) -> None:
    """A crop (a side, or (h, w)) must fit in the frames it is cut from (decoded at frame_size = (H, W))."""
    crop_h, crop_w = (crop_size, crop_size) if isinstance(crop_size, int) else crop_size
    if crop_h > frame_size[0] or crop_w > frame_size[1]:
        shown = crop_h if crop_h == crop_w else f"{crop_h}x{crop_w}"
        raise ValueError(
            f"crop_size {shown} is larger than the decoded frames {frame_size[0]}x{frame_size[1]} "
            "(frame_size); lower crop_size or raise frame_size"
        )


def center_crop_params(batch: int, height: int, width: int, crop: tuple[int, int]) -> torch.Tensor:
    """Centre-crop boxes (B, 4) = (top, left, h, w) for evaluation (crop no larger than the frame)."""
    crop_h, crop_w = min(crop[0], height), min(crop[1], width)
    box = torch.tensor([(height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w], dtype=torch.float32)
    return box.expand(batch, 4).clone()


def random_crop_params(
    batch: int, height: int, width: int, crop: tuple[int, int], generator: torch.Generator | None = None
) -> torch.Tensor:
    """Fixed-size crops at uniformly random positions (B, 4) (C3D-style: 112x112 out of 128x171)."""
    crop_h, crop_w = min(crop[0], height), min(crop[1], width)
    offsets = _rand((batch, 2), generator)
    top = (offsets[:, 0] * (height - crop_h + 1)).floor()
    left = (offsets[:, 1] * (width - crop_w + 1)).floor()
    return torch.stack([top, left, torch.full_like(top, crop_h), torch.full_like(top, crop_w)], dim=1)


def random_resized_crop(
    clips: torch.Tensor,
    size: int | tuple[int, int],
    params: torch.Tensor,
    flip: torch.Tensor | None = None,
) -> torch.Tensor:
    """Crop box `params` (B, 4) of each clip (B, C, T, H, W), resized bilinearly to `size`, optionally mirrored
    (`flip`: bool (B,)), in one `grid_sample` call; all frames of a clip share the box. -> (B, C, T, h, w)."""
    batch, channels, frames, height, width = clips.shape
    out_h, out_w = (size, size) if isinstance(size, int) else size
    params = params.to(device=clips.device, dtype=torch.float32)
    top, left, crop_h, crop_w = params.unbind(1)
    # output pixel centres in [0, 1] of the box, then normalised input coordinates (align_corners=False)
    u = (torch.arange(out_w, device=clips.device, dtype=torch.float32) + 0.5) / out_w
    v = (torch.arange(out_h, device=clips.device, dtype=torch.float32) + 0.5) / out_h
    u = u.expand(batch, out_w)
    if flip is not None:
        u = torch.where(flip.to(clips.device)[:, None], 1 - u, u)
    x = 2 * (left[:, None] + u * crop_w[:, None]) / width - 1  # (B, w)
    y = 2 * (top[:, None] + v[None] * crop_h[:, None]) / height - 1  # (B, h)
    grid = torch.stack(torch.broadcast_tensors(x[:, None, :], y[:, :, None]), dim=-1)  # (B, h, w, 2)
    planes = clips.reshape(batch, channels * frames, height, width)
    out = F.grid_sample(
        planes, grid.to(clips.dtype), mode="bilinear", padding_mode="border", align_corners=False
    )
    return out.view(batch, channels, frames, out_h, out_w)


def horizontal_flip(clips: torch.Tensor, flip: torch.Tensor, *, flow: bool = False) -> torch.Tensor:
    """Mirror the clips where `flip` (bool (B,)) is set. flow=True also negates the horizontal flow component
    of ViCC-encoded flow (channel 2, u: (u + 20) / 40 in [0, 1] -> 1 - value)."""
    flipped = clips.flip(-1)
    if flow:
        flipped = torch.cat([flipped[:, :2], 1 - flipped[:, 2:3]], dim=1)
    return torch.where(_per_sample(flip, clips), flipped, clips)


def _grayscale(clips: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> luma (B, 1, T, H, W)."""
    weights = torch.tensor(GRAY_WEIGHTS, device=clips.device, dtype=clips.dtype).view(1, 3, 1, 1, 1)
    return (clips * weights).sum(dim=1, keepdim=True)


def _rgb_to_hsv(clips: torch.Tensor) -> torch.Tensor:
    r, g, b = clips.unbind(1)
    maxc, minc = clips.amax(dim=1), clips.amin(dim=1)
    chroma = maxc - minc
    gray = chroma == 0
    saturation = chroma / torch.where(maxc == 0, torch.ones_like(maxc), maxc)
    safe = torch.where(gray, torch.ones_like(chroma), chroma)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    hue = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = torch.where(gray, torch.zeros_like(hue), hue)
    return torch.stack([torch.remainder(hue / 6.0, 1.0), saturation, maxc], dim=1)


def _hsv_to_rgb(clips: torch.Tensor) -> torch.Tensor:
    """Channel n of RGB = V - V S clamp(min(k, 4 - k), 0, 1) with k = (n + 6 H) mod 6, n = 5, 3, 1."""
    hue, saturation, value = clips[:, :1], clips[:, 1:2], clips[:, 2:3]
    n = torch.tensor([5.0, 3.0, 1.0], device=clips.device, dtype=clips.dtype).view(1, 3, 1, 1, 1)
    k = torch.remainder(n + 6.0 * hue, 6.0)
    return value - value * saturation * torch.minimum(k, 4.0 - k).clamp(0, 1)


def _adjust(clips: torch.Tensor, op: int, factor: torch.Tensor) -> torch.Tensor:
    """One colour op with per-sample (or per-frame) `factor` broadcast as (B, 1, T or 1, 1, 1)."""
    if op == 0:  # brightness
        return (clips * factor).clamp(0, 1)
    if op == 1:  # contrast: blend with the mean luma of each frame
        mean = _grayscale(clips).mean(dim=(-2, -1), keepdim=True)
        return (factor * clips + (1 - factor) * mean).clamp(0, 1)
    if op == 2:  # saturation: blend with the luma image
        return (factor * clips + (1 - factor) * _grayscale(clips)).clamp(0, 1)
    hsv = _rgb_to_hsv(clips)  # hue: rotate the hue circle
    return _hsv_to_rgb(torch.cat([torch.remainder(hsv[:, :1] + factor, 1.0), hsv[:, 1:]], dim=1))


def color_jitter(
    clips: torch.Tensor,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
    hue: float = 0.0,
    p: float = 1.0,
    generator: torch.Generator | None = None,
    *,
    per_frame: bool = False,
    apply: torch.Tensor | None = None,
) -> torch.Tensor:
    """torchvision's ColorJitter on clips (B, 3, T, H, W) in [0, 1]: factors in [max(0, 1 - s), 1 + s] (hue
    shift in [-hue, hue]) in a random order, with probability p; one draw per clip, or per frame with
    `per_frame` (Pace Prediction's option). apply: bool (B,) that gates it per clip (None: all).

    Brightness, contrast and saturation commute (up to clipping), so only the position of the hue shift
    among them is drawn per clip: the linear ops drawn before it run first, then the hue, then the others;
    each op runs once per batch.
    """
    batch, frames = clips.shape[0], clips.shape[2] if per_frame else 1
    enabled = _bernoulli(p, (batch, frames), generator)
    if apply is not None:
        enabled &= apply.to(enabled.device).view(batch, 1)
    ranges = [(max(0.0, 1 - s), 1 + s) for s in (brightness, contrast, saturation)] + [(-hue, hue)]
    neutral = (1.0, 1.0, 1.0, 0.0)
    factors = [
        torch.where(enabled, _uniform(low, high, (batch, frames), generator), torch.tensor(neutral[op]))
        for op, (low, high) in enumerate(ranges)
    ]
    position = _rand((batch, frames, 4), generator).argsort(dim=-1).argsort(dim=-1)  # position of each op
    before_hue = position[..., :3] < position[..., 3:]
    active = [s > 0 for s in (brightness, contrast, saturation)]
    for stage in (True, False):
        for op in range(3):
            if active[op]:
                factor = torch.where(before_hue[..., op] == stage, factors[op], torch.tensor(neutral[op]))
                clips = _adjust(clips, op, _per_sample(factor, clips))
        if stage and hue > 0:
            clips = _adjust(clips, 3, _per_sample(factors[3], clips))
    return clips


def random_grayscale(
    clips: torch.Tensor,
    p: float,
    generator: torch.Generator | None = None,
    *,
    mode: Literal["luma", "channel"] = "luma",
    apply: torch.Tensor | None = None,
) -> torch.Tensor:
    """Grey clips with probability p: "luma" (torchvision) or "channel", one random colour channel copied to
    all three (CoCLR/ViCC's RandomGray). apply: bool (B,) that gates it per clip."""
    batch = clips.shape[0]
    chosen = _bernoulli(p, (batch,), generator)
    if apply is not None:
        chosen &= apply.to(chosen.device)
    if mode == "luma":
        gray = _grayscale(clips)
    elif mode == "channel":
        channel = (_rand((batch,), generator) * 3).long().clamp_(max=2).to(clips.device)
        gray = clips.gather(1, channel.view(batch, 1, 1, 1, 1).expand(batch, 1, *clips.shape[2:]))
    else:
        raise ValueError(f"grayscale mode must be 'luma' or 'channel', got {mode!r}")
    return torch.where(_per_sample(chosen, clips), gray.expand_as(clips), clips)


def gaussian_blur(
    clips: torch.Tensor,
    sigma: tuple[float, float] = (0.1, 2.0),
    p: float = 0.5,
    generator: torch.Generator | None = None,
    *,
    apply: torch.Tensor | None = None,
) -> torch.Tensor:
    """Gaussian blur with sigma uniform in `sigma` px, with probability p, the same kernel for every frame of a
    clip (separable depthwise convolution, reflect padding, radius ceil(3 sigma_max))."""
    batch, channels, frames, height, width = clips.shape
    chosen = _bernoulli(p, (batch,), generator)
    if apply is not None:
        chosen &= apply.to(chosen.device)
    sigmas = _uniform(sigma[0], sigma[1], (batch,), generator)
    radius = max(1, min(math.ceil(3 * sigma[1]), (min(height, width) - 1) // 2))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernels = torch.exp(-(offsets[None] ** 2) / (2 * sigmas[:, None] ** 2))
    kernels = kernels / kernels.sum(dim=1, keepdim=True)
    identity = (offsets == 0).float().expand(batch, -1)
    kernels = torch.where(chosen[:, None], kernels, identity).to(device=clips.device, dtype=clips.dtype)
    planes = clips.reshape(1, batch * channels * frames, height, width)
    weight = kernels.repeat_interleave(channels * frames, dim=0)  # (B*C*T, K)
    groups = weight.shape[0]
    planes = F.conv2d(
        F.pad(planes, (radius, radius, 0, 0), mode="reflect"), weight[:, None, None, :], groups=groups
    )
    planes = F.conv2d(
        F.pad(planes, (0, 0, radius, radius), mode="reflect"), weight[:, None, :, None], groups=groups
    )
    return planes.view(batch, channels, frames, height, width)


def normalize(
    clips: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """(clips - mean) / std per channel of (B, C, T, H, W)."""
    shape = (1, -1, 1, 1, 1)
    mean_t = torch.tensor(mean, device=clips.device, dtype=clips.dtype).view(shape)
    std_t = torch.tensor(std, device=clips.device, dtype=clips.dtype).view(shape)
    return (clips - mean_t) / std_t


def frame_difference(clips: torch.Tensor) -> torch.Tensor:
    """Differences of adjacent frames (SDC's d view, seed 002): (B, C, T, H, W) -> (B, C, T - 1, H, W).
    Sample T + 1 frames (`samplers.difference_clip`) to get T differences."""
    return clips[:, :, 1:] - clips[:, :, :-1]


class ClipAugment(nn.Module):
    """The augmentation pipeline of one view, from config values; every random choice is per clip.

    crop: "resized" (random area in `scale`, aspect in `ratio`, resized to `size`), "random" (a `size` crop at
    a random position, no resize: Pace Prediction's 112 out of 128x171) or "center" (evaluation, no flip).
    Order: crop + horizontal flip (one resampling), colour jitter, grayscale, blur, normalise.
    A `paired` clip (the optical flow of the same frames) gets the same crop and flip (its u component
    negated when mirrored, unless `flow_flip_negates_u=False`, which reproduces ViCC's code that mirrored
    flow images like RGB ones) and the normalisation, never the colour ops.
    """

    def __init__(
        self,
        size: int | tuple[int, int] = 112,
        *,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        hue: float = 0.0,
        jitter_p: float = 0.0,
        jitter_per_frame: bool = False,
        grayscale_p: float = 0.0,
        grayscale_mode: Literal["luma", "channel"] = "luma",
        blur_sigma: tuple[float, float] = (0.1, 2.0),
        blur_p: float = 0.0,
        normalize: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        crop: Literal["resized", "random", "center"] = "resized",
        flow_flip_negates_u: bool = True,
    ):
        super().__init__()
        for name, value in (
            ("flip_p", flip_p),
            ("jitter_p", jitter_p),
            ("grayscale_p", grayscale_p),
            ("blur_p", blur_p),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"scale must satisfy 0 < min <= max <= 1, got {scale}")
        if not 0 <= hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {hue}")
        if crop not in ("resized", "random", "center"):
            raise ValueError(f"crop must be 'resized', 'random' or 'center', got {crop!r}")
        if grayscale_mode not in ("luma", "channel"):
            raise ValueError(f"grayscale_mode must be 'luma' or 'channel', got {grayscale_mode!r}")
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.scale, self.ratio, self.flip_p = tuple(scale), tuple(ratio), flip_p
        self.jitter = (brightness, contrast, saturation, hue)
        self.jitter_p, self.jitter_per_frame = jitter_p, jitter_per_frame
        self.grayscale_p, self.grayscale_mode = grayscale_p, grayscale_mode
        self.blur_sigma, self.blur_p = tuple(blur_sigma), blur_p
        self.normalize, self.mean, self.std = normalize, tuple(mean), tuple(std)
        self.crop = crop
        self.flow_flip_negates_u = flow_flip_negates_u

    def forward(
        self,
        clips: torch.Tensor,
        paired: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        *,
        strong: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """clips: uint8 (B, T, H, W, C) or float (B, C, T, H, W) in [0, 1] -> float (B, C, T, h, w);
        with `paired`, returns (clips, paired). strong: bool (B,) selecting the clips that get the colour
        ops (the others only crop and flip: CoCLR/ViCC's weak view); None = all."""
        clips = to_float_clips(clips) if clips.dtype == torch.uint8 else clips
        batch, _, _, height, width = clips.shape
        if self.crop == "center":
            boxes, flip = center_crop_params(batch, height, width, self.size), None
        else:
            if self.crop == "random":
                boxes = random_crop_params(batch, height, width, self.size, generator)
            else:
                boxes = sample_crop_params(batch, height, width, self.scale, self.ratio, generator)
            flip = _bernoulli(self.flip_p, (batch,), generator)
        out = random_resized_crop(clips, self.size, boxes, flip)
        if self.jitter_p > 0 and any(self.jitter):
            out = color_jitter(
                out,
                *self.jitter,
                p=self.jitter_p,
                generator=generator,
                per_frame=self.jitter_per_frame,
                apply=strong,
            )
        if self.grayscale_p > 0:
            out = random_grayscale(out, self.grayscale_p, generator, mode=self.grayscale_mode, apply=strong)
        if self.blur_p > 0:
            out = gaussian_blur(out, self.blur_sigma, self.blur_p, generator, apply=strong)
        if self.normalize:
            out = normalize(out, self.mean, self.std)
        if paired is None:
            return out
        paired = to_float_clips(paired) if paired.dtype == torch.uint8 else paired
        scale = torch.tensor([paired.shape[-2] / height, paired.shape[-1] / width] * 2)
        paired = random_resized_crop(paired, self.size, boxes * scale, None)
        if flip is not None:
            paired = horizontal_flip(paired, flip, flow=self.flow_flip_negates_u)
        if self.normalize:
            paired = normalize(paired, self.mean, self.std)
        return out, paired


class StrongWeakViews(nn.Module):
    """CoCLR/ViCC's two-view policy (ViCC's training code, not stated in seed 004): with probability
    `one_clip_p` both views come from ONE of the two sampled clips (chosen at random), one view strong and
    the other weak; otherwise each view keeps its own clip and is strong with probability `strong_p`.
    Strong = all ops of `augment`; weak = its crop and flip only. Paired flow clips follow their RGB clip."""

    def __init__(self, augment: ClipAugment, *, one_clip_p: float = 0.5, strong_p: float = 0.3):
        super().__init__()
        self.augment = augment
        self.one_clip_p = one_clip_p  # ViCC code: TransformController weights [0.5, 0.5]
        self.strong_p = strong_p  # ViCC code: TwoClipTransform(p=0.3)

    def forward(
        self,
        clip0: torch.Tensor,
        clip1: torch.Tensor,
        paired0: torch.Tensor | None = None,
        paired1: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple:
        """uint8 (B, T, H, W, C) clips (and flow) -> (view0, view1), or ((view0, flow0), (view1, flow1))."""
        batch = clip0.shape[0]
        one_clip = _bernoulli(self.one_clip_p, (batch,), generator)
        keep_second = _bernoulli(0.5, (batch,), generator)
        first_strong = _bernoulli(0.5, (batch,), generator)
        strong0 = torch.where(one_clip, first_strong, _bernoulli(self.strong_p, (batch,), generator))
        strong1 = torch.where(one_clip, ~first_strong, _bernoulli(self.strong_p, (batch,), generator))
        take1_for0 = (one_clip & keep_second).to(clip0.device).view(batch, 1, 1, 1, 1)
        take0_for1 = (one_clip & ~keep_second).to(clip0.device).view(batch, 1, 1, 1, 1)
        source0, source1 = torch.where(take1_for0, clip1, clip0), torch.where(take0_for1, clip0, clip1)
        if paired0 is None or paired1 is None:
            return (
                self.augment(source0, None, generator, strong=strong0),
                self.augment(source1, None, generator, strong=strong1),
            )
        flow0, flow1 = torch.where(take1_for0, paired1, paired0), torch.where(take0_for1, paired0, paired1)
        return (
            self.augment(source0, flow0, generator, strong=strong0),
            self.augment(source1, flow1, generator, strong=strong1),
        )
