"""Batched, temporally consistent clip augmentations on torch tensors (run on the accelerator).

Every op takes clips (B, C, T, H, W) on any device and per-sample random parameters (B of them), the same for
all T frames of a clip unless an op says otherwise (Pace's per-frame jitter, the released per-frame grey).
The crop reads uint8 frames (B, T, H, W, C) as decoded and converts only the pixels it keeps to float.

No step waits on the host: random parameters are drawn on the clips' device with the global RNG (or on a
given `torch.Generator`'s device, so a seeded CPU generator gives the same augmentation on CPU and GPU),
constants are Python scalars or buffers, and every random choice is a `torch.where`, never a Python branch,
an `.item()` or a boolean-mask index, so the modules compile with `torch.compile(fullgraph=True)`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# ITU-R 601 luma, as torchvision's rgb_to_grayscale
GRAY_WEIGHTS = (0.299, 0.587, 0.114)
CROP_SAMPLERS = ("torchvision", "single_draw", "ten_draws")
CropSampler = Literal["torchvision", "single_draw", "ten_draws"]
Device = torch.device | str


def _draw_device(generator: torch.Generator | None, device: Device) -> Device:
    return generator.device if generator is not None else device


def _rand(shape: Sequence[int], generator: torch.Generator | None, device: Device = "cpu") -> torch.Tensor:
    """Uniform [0, 1) numbers on `device` (global RNG), or on the generator's device when one is given."""
    return torch.rand(tuple(shape), generator=generator, device=_draw_device(generator, device))


def _uniform(
    low: float, high: float, shape: Sequence[int], generator: torch.Generator | None, device: Device = "cpu"
) -> torch.Tensor:
    return low + (high - low) * _rand(shape, generator, device)


def _bernoulli(
    p: float, shape: Sequence[int], generator: torch.Generator | None, device: Device = "cpu"
) -> torch.Tensor:
    return _rand(shape, generator, device) < p


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


def _frame_size(clips: torch.Tensor) -> tuple[int, int]:
    """(H, W) of uint8 frames (B, T, H, W, C) or float clips (B, C, T, H, W)."""
    return (
        (clips.shape[2], clips.shape[3]) if clips.dtype == torch.uint8 else (clips.shape[3], clips.shape[4])
    )


def sample_crop_params(
    batch: int,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
    attempts: int = 10,
    *,
    sampler: CropSampler = "torchvision",
    device: Device = "cpu",
) -> torch.Tensor:
    """Random-resized-crop boxes, one per clip: float (B, 4) = (top, left, h, w) px, area fraction uniform in
    `scale`, the first of the draws that fits kept (else a centred fallback box).

    sampler: "torchvision" (aspect log-uniform in `ratio`, `attempts` draws, fallback a centre crop at the
    closest valid ratio); "single_draw" (the released CoCLR/ViCC `RandomSizedCrop(consistent=False)`: aspect
    uniform in `ratio` with w and h swapped with p 0.5, ONE draw, the whole frame (squashed) when it misses);
    "ten_draws" (the released MFO/SDC `RandomSizedCrop(consistent=True)`: such draws up to 10 times, then the
    short side scaled to the output and centre-cropped: the centre square).
    """
    if sampler not in CROP_SAMPLERS:
        raise ValueError(f"crop_sampler must be one of {CROP_SAMPLERS}, got {sampler!r}")
    draws = 1 if sampler == "single_draw" else attempts
    area = _uniform(scale[0], scale[1], (batch, draws), generator, device) * (height * width)
    if sampler == "torchvision":
        aspect = torch.exp(
            _uniform(math.log(ratio[0]), math.log(ratio[1]), (batch, draws), generator, device)
        )
        crop_w, crop_h = torch.sqrt(area * aspect).round(), torch.sqrt(area / aspect).round()
    else:  # released augmentation.py: w, h = round(sqrt(A r)), round(sqrt(A / r)), r ~ U(ratio), then swapped
        aspect = _uniform(ratio[0], ratio[1], (batch, draws), generator, device)
        crop_w, crop_h = torch.sqrt(area * aspect).round(), torch.sqrt(area / aspect).round()
        swap = _bernoulli(0.5, (batch, draws), generator, device)
        crop_w, crop_h = torch.where(swap, crop_h, crop_w), torch.where(swap, crop_w, crop_h)
    fits = (crop_w >= 1) & (crop_w <= width) & (crop_h >= 1) & (crop_h <= height)
    first = fits.float().argmax(dim=1, keepdim=True)
    crop_h, crop_w = crop_h.gather(1, first).squeeze(1), crop_w.gather(1, first).squeeze(1)

    if sampler == "single_draw":
        fallback_h, fallback_w = height, width
    elif sampler == "ten_draws":  # released Scale(size) + CenterCrop(size): the centre square
        fallback_h = fallback_w = min(height, width)
    elif width / height < ratio[0]:  # torchvision: centre crop with the ratio clamped to the range
        fallback_h, fallback_w = round(width / ratio[0]), width
    elif width / height > ratio[1]:
        fallback_h, fallback_w = height, round(height * ratio[1])
    else:
        fallback_h, fallback_w = height, width
    any_fits = fits.any(dim=1)
    crop_h = torch.where(any_fits, crop_h, float(fallback_h))
    crop_w = torch.where(any_fits, crop_w, float(fallback_w))
    offsets = _rand((batch, 2), generator, device)
    top = torch.where(
        any_fits, (offsets[:, 0] * (height - crop_h + 1)).floor(), float((height - fallback_h) // 2)
    )
    left = torch.where(
        any_fits, (offsets[:, 1] * (width - crop_w + 1)).floor(), float((width - fallback_w) // 2)
    )
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


def center_crop_params(
    batch: int, height: int, width: int, crop: tuple[int, int], device: Device = "cpu"
) -> torch.Tensor:
    """Centre-crop boxes (B, 4) = (top, left, h, w) for evaluation (crop no larger than the frame)."""
    crop_h, crop_w = min(crop[0], height), min(crop[1], width)
    box = [(height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w]
    return torch.tensor(box, dtype=torch.float32, device=device).expand(batch, 4).clone()


def random_crop_params(
    batch: int,
    height: int,
    width: int,
    crop: tuple[int, int],
    generator: torch.Generator | None = None,
    device: Device = "cpu",
) -> torch.Tensor:
    """Fixed-size crops at uniformly random positions (B, 4) (C3D-style: 112x112 out of 128x171)."""
    crop_h, crop_w = min(crop[0], height), min(crop[1], width)
    offsets = _rand((batch, 2), generator, device)
    top = (offsets[:, 0] * (height - crop_h + 1)).floor()
    left = (offsets[:, 1] * (width - crop_w + 1)).floor()
    return torch.stack([top, left, torch.full_like(top, crop_h), torch.full_like(top, crop_w)], dim=1)


def _source_coordinates(
    start: torch.Tensor, length: torch.Tensor, steps: int, limit: int, flip: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bilinear taps along one axis, as `grid_sample(align_corners=False, padding_mode="border")`: the
    centre of output pixel i of a box [start, start + length) is start + (i + 0.5) length / steps - 0.5 px,
    clamped to the frame. Returns the lower and upper source index (B, steps) and the upper tap's weight."""
    fraction = (torch.arange(steps, device=start.device, dtype=torch.float32) + 0.5) / steps
    fraction = fraction.expand(start.shape[0], steps)
    if flip is not None:
        fraction = torch.where(flip.to(start.device)[:, None], 1 - fraction, fraction)
    position = (start[:, None] + fraction * length[:, None] - 0.5).clamp(0, limit - 1)
    lower = position.floor()
    return lower.long(), (lower.long() + 1).clamp(max=limit - 1), position - lower


def random_resized_crop(
    clips: torch.Tensor,
    size: int | tuple[int, int],
    params: torch.Tensor,
    flip: torch.Tensor | None = None,
) -> torch.Tensor:
    """Crop box `params` (B, 4) of each clip, resized bilinearly to `size` and optionally mirrored (`flip`:
    bool (B,)); all frames of a clip share the box. -> float (B, C, T, h, w).

    clips: uint8 frames (B, T, H, W, C) as decoded (-> values in [0, 1]), or float clips (B, C, T, H, W). The
    resize is separable: the two source rows of every output row are gathered from the uint8 frames first and
    only they are converted to float, then the two source columns of every output column; so the crop happens
    in uint8, before any conversion, and the full frames are never converted.
    """
    is_uint8 = clips.dtype == torch.uint8
    frames = clips if is_uint8 else clips.permute(0, 2, 3, 4, 1)  # (B, T, H, W, C)
    batch, steps, height, width, channels = frames.shape
    out_h, out_w = (size, size) if isinstance(size, int) else size
    device, dtype = clips.device, torch.float32 if is_uint8 else clips.dtype
    top, left, crop_h, crop_w = params.to(device=device, dtype=torch.float32).unbind(1)
    y0, y1, wy = _source_coordinates(top, crop_h, out_h, height)
    x0, x1, wx = _source_coordinates(left, crop_w, out_w, width, flip)
    # rows: one index_select of whole rows (W * C values each) of the (B * T * H)-row frame matrix
    plane = torch.arange(batch * steps, device=device).view(batch, steps, 1, 1) * height
    rows = (plane + torch.stack([y0, y1], dim=1)[:, None]).flatten()  # (B, T, 2, h)
    picked = frames.reshape(batch * steps * height, width * channels).index_select(0, rows).to(dtype)
    picked = picked.view(batch, steps * 2, out_h, width * channels).unflatten(1, (steps, 2))
    blended = torch.lerp(picked[:, :, 0], picked[:, :, 1], wy.to(dtype).view(batch, 1, out_h, 1))
    # columns: one gather along the last dimension, the same (per-clip) column index for every row
    columns = torch.stack([x0, x1], dim=1)[..., None] * channels + torch.arange(channels, device=device)
    columns = columns.view(batch, 1, 2 * out_w * channels).expand(batch, steps * out_h, -1)
    taps = blended.view(batch, steps * out_h, width * channels).gather(2, columns)
    taps = taps.view(batch, steps * out_h, 2, out_w, channels)
    out = torch.lerp(taps[:, :, 0], taps[:, :, 1], wx.to(dtype).view(batch, 1, out_w, 1))
    if is_uint8:
        out = out.mul_(1 / 255.0)
    return out.view(batch, steps, out_h, out_w, channels).permute(0, 4, 1, 2, 3)


def flip_flow_u(flow: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Negate the horizontal flow component of mirrored ViCC-encoded flow (B, 3, T, H, W) where `flip` (bool
    (B,)) is set: channel 2 holds u as (u + 20) / 40 in [0, 1], so -u is 1 - value."""
    u = flow[:, 2:3]
    return torch.cat([flow[:, :2], torch.where(_per_sample(flip, flow), 1 - u, u)], dim=1)


def _grayscale(clips: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> luma (B, 1, T, H, W) (weights as Python scalars: no constant tensor to move)."""
    r, g, b = clips.unbind(1)
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(1)


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
    hue, saturation, value = clips.unbind(1)
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(n + 6.0 * hue, 6.0)
        channels.append(value - value * saturation * torch.minimum(k, 4.0 - k).clamp(0, 1))
    return torch.stack(channels, dim=1)


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
    batch, frames, device = clips.shape[0], clips.shape[2] if per_frame else 1, clips.device
    enabled = _bernoulli(p, (batch, frames), generator, device)
    if apply is not None:
        enabled &= apply.to(enabled.device).view(batch, 1)
    ranges = [(max(0.0, 1 - s), 1 + s) for s in (brightness, contrast, saturation)] + [(-hue, hue)]
    neutral = (1.0, 1.0, 1.0, 0.0)
    factors = [
        torch.where(enabled, _uniform(low, high, (batch, frames), generator, device), neutral[op])
        for op, (low, high) in enumerate(ranges)
    ]
    position = _rand((batch, frames, 4), generator, device).argsort(dim=-1).argsort(dim=-1)  # of each op
    before_hue = position[..., :3] < position[..., 3:]
    active = [s > 0 for s in (brightness, contrast, saturation)]
    for stage in (True, False):
        for op in range(3):
            if active[op]:
                factor = torch.where(before_hue[..., op] == stage, factors[op], neutral[op])
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
    per_frame: bool = False,
    channel_per_frame: bool = False,
    apply: torch.Tensor | None = None,
) -> torch.Tensor:
    """Grey clips with probability p: "luma" (torchvision) or "channel", one random colour channel copied to
    all three (the released RandomGray of CoCLR, ViCC, MFO and SDC). per_frame: the decision is drawn per
    frame (MFO's `RandomGray(consistent=False)`); channel_per_frame: the channel is drawn per frame (the
    released `RandomGray.grayscale`, called per image). apply: bool (B,) that gates it per clip."""
    batch, _, frames = clips.shape[:3]
    device = clips.device
    chosen = _bernoulli(p, (batch, frames if per_frame else 1), generator, device)
    if apply is not None:
        chosen &= apply.to(chosen.device).view(batch, 1)
    if mode == "luma":
        gray = _grayscale(clips)
    elif mode == "channel":
        channel = (
            (_rand((batch, frames if channel_per_frame else 1), generator, device) * 3).long().clamp_(max=2)
        )
        one_hot = channel.to(device)[:, None] == torch.arange(3, device=device)[None, :, None]  # (B, 3, T|1)
        gray = (clips * one_hot.to(clips.dtype)[..., None, None]).sum(dim=1, keepdim=True)
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
    clip (separable depthwise convolution, reflect padding, radius ceil(3 sigma_max)); the kernels are built on
    the clips' device."""
    batch, channels, frames, height, width = clips.shape
    device = clips.device
    chosen = _bernoulli(p, (batch,), generator, device).to(device)
    if apply is not None:
        chosen &= apply.to(device)
    sigmas = _uniform(sigma[0], sigma[1], (batch,), generator, device).to(device=device, dtype=clips.dtype)
    radius = max(1, min(math.ceil(3 * sigma[1]), (min(height, width) - 1) // 2))
    offsets = torch.arange(-radius, radius + 1, device=device, dtype=clips.dtype)
    kernels = torch.exp(-(offsets[None] ** 2) / (2 * sigmas[:, None] ** 2))
    kernels = kernels / kernels.sum(dim=1, keepdim=True)
    kernels = torch.where(chosen[:, None], kernels, (offsets == 0).to(clips.dtype))
    planes = clips.reshape(1, batch * channels * frames, height, width)
    weight = kernels.repeat_interleave(channels * frames, dim=0)  # (B*C*T, K)
    groups = weight.shape[0]
    planes = nn.functional.conv2d(
        nn.functional.pad(planes, (radius, radius, 0, 0), mode="reflect"),
        weight[:, None, None, :],
        groups=groups,
    )
    planes = nn.functional.conv2d(
        nn.functional.pad(planes, (0, 0, radius, radius), mode="reflect"),
        weight[:, None, :, None],
        groups=groups,
    )
    return planes.view(batch, channels, frames, height, width)


def normalize(
    clips: torch.Tensor,
    mean: Sequence[float] | torch.Tensor = IMAGENET_MEAN,
    std: Sequence[float] | torch.Tensor = IMAGENET_STD,
) -> torch.Tensor:
    """(clips - mean) / std per channel of (B, C, T, H, W); pass tensors (a module's buffers) in a training
    step so that no constant is copied to the device per call."""
    shape = (1, -1, 1, 1, 1)
    mean_t = torch.as_tensor(mean, device=clips.device, dtype=clips.dtype).view(shape)
    std_t = torch.as_tensor(std, device=clips.device, dtype=clips.dtype).view(shape)
    return (clips - mean_t) / std_t


def frame_difference(clips: torch.Tensor) -> torch.Tensor:
    """Differences of adjacent frames (SDC's d view, SDC supp.): (B, C, T, H, W) -> (B, C, T - 1, H, W).
    Sample T + 1 frames (`samplers.difference_clip`) to get T differences."""
    return clips[:, :, 1:] - clips[:, :, :-1]


class ClipAugment(nn.Module):
    """The augmentation pipeline of one view, from config values; every random choice is per clip.

    crop: "resized" (random area in `scale`, aspect in `ratio`, boxes drawn by `crop_sampler`, resized to
    `size`), "random" (a `size` crop at a random position, no resize: Pace Prediction's 112 out of 128x171)
    or "center" (evaluation, no flip). Order: crop + horizontal flip (one resampling, from uint8), colour
    jitter, grayscale, blur, normalise.
    A `paired` clip (the optical flow of the same frames) gets the same crop and flip (its u component
    negated when mirrored, unless `flow_flip_negates_u=False`, which reproduces ViCC's code that mirrored
    flow images like RGB ones) and the normalisation; the colour ops only with `paired_colour`, and then with
    its RGB clip's parameters (the released ViCC stage 2 transforms a clip's RGB and flow frames as one
    sequence).
    """

    def __init__(
        self,
        size: int | tuple[int, int] = 112,
        *,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        color_jitter: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
        jitter_p: float = 0.0,
        jitter_per_frame: bool = False,
        grayscale_p: float = 0.0,
        grayscale_mode: Literal["luma", "channel"] = "luma",
        grayscale_per_frame: bool = False,
        grayscale_channel_per_frame: bool = False,
        blur_sigma: tuple[float, float] = (0.1, 2.0),
        blur_p: float = 0.0,
        normalize: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        crop: Literal["resized", "random", "center"] = "resized",
        crop_sampler: CropSampler = "torchvision",
        flow_flip_negates_u: bool = True,
        paired_colour: bool = False,
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
        if len(color_jitter) != 4 or not 0 <= color_jitter[3] <= 0.5:
            raise ValueError(
                f"color_jitter must be [brightness, contrast, saturation, hue <= 0.5], got {color_jitter}"
            )
        if crop not in ("resized", "random", "center"):
            raise ValueError(f"crop must be 'resized', 'random' or 'center', got {crop!r}")
        if crop_sampler not in CROP_SAMPLERS:
            raise ValueError(f"crop_sampler must be one of {CROP_SAMPLERS}, got {crop_sampler!r}")
        if grayscale_mode not in ("luma", "channel"):
            raise ValueError(f"grayscale_mode must be 'luma' or 'channel', got {grayscale_mode!r}")
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.scale, self.ratio, self.flip_p = tuple(scale), tuple(ratio), flip_p
        self.jitter = tuple(color_jitter)  # brightness, contrast, saturation, hue (the configs' list)
        self.jitter_p, self.jitter_per_frame = jitter_p, jitter_per_frame
        self.grayscale_p, self.grayscale_mode = grayscale_p, grayscale_mode
        self.grayscale_per_frame, self.grayscale_channel_per_frame = (
            grayscale_per_frame,
            grayscale_channel_per_frame,
        )
        self.blur_sigma, self.blur_p = tuple(blur_sigma), blur_p
        self.normalize = normalize
        # buffers: they move with `.to(device)` once, instead of a host-to-device copy per step
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).clone(), persistent=False)
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).clone(), persistent=False)
        self.crop, self.crop_sampler = crop, crop_sampler
        self.flow_flip_negates_u, self.paired_colour = flow_flip_negates_u, paired_colour

    def _colour(
        self, clips: torch.Tensor, generator: torch.Generator | None, strong: torch.Tensor | None
    ) -> torch.Tensor:
        """Colour jitter, grey and blur of float clips (B, 3, T, h, w), gated per clip by `strong`."""
        if self.jitter_p > 0 and any(self.jitter):
            clips = color_jitter(
                clips,
                *self.jitter,
                p=self.jitter_p,
                generator=generator,
                per_frame=self.jitter_per_frame,
                apply=strong,
            )
        if self.grayscale_p > 0:
            clips = random_grayscale(
                clips,
                self.grayscale_p,
                generator,
                mode=self.grayscale_mode,
                per_frame=self.grayscale_per_frame,
                channel_per_frame=self.grayscale_channel_per_frame,
                apply=strong,
            )
        if self.blur_p > 0:
            clips = gaussian_blur(clips, self.blur_sigma, self.blur_p, generator, apply=strong)
        return clips

    def _normalize(self, clips: torch.Tensor) -> torch.Tensor:
        return normalize(clips, self.mean, self.std) if self.normalize else clips

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
        batch, device = clips.shape[0], clips.device
        height, width = _frame_size(clips)
        if self.crop == "center":
            boxes, flip = center_crop_params(batch, height, width, self.size, device), None
        else:
            if self.crop == "random":
                boxes = random_crop_params(batch, height, width, self.size, generator, device)
            else:
                boxes = sample_crop_params(
                    batch,
                    height,
                    width,
                    self.scale,
                    self.ratio,
                    generator,
                    sampler=self.crop_sampler,
                    device=device,
                )
            flip = _bernoulli(self.flip_p, (batch,), generator, device)
        out = random_resized_crop(clips, self.size, boxes, flip)
        if paired is None:
            return self._normalize(self._colour(out, generator, strong))
        paired_h, paired_w = _frame_size(paired)
        top, left, crop_h, crop_w = boxes.to(device).unbind(1)
        y_scale, x_scale = paired_h / height, paired_w / width
        paired_boxes = torch.stack([top * y_scale, left * x_scale, crop_h * y_scale, crop_w * x_scale], dim=1)
        paired = random_resized_crop(paired, self.size, paired_boxes, flip)
        if flip is not None and self.flow_flip_negates_u:
            paired = flip_flow_u(paired, flip)
        if self.paired_colour:  # one sequence of 2T frames: every per-clip parameter is shared
            frames = out.shape[2]
            both = self._colour(torch.cat([out, paired], dim=2), generator, strong)
            out, paired = both[:, :, :frames], both[:, :, frames:]
        else:
            out = self._colour(out, generator, strong)
        return self._normalize(out), self._normalize(paired)


class StrongWeakViews(nn.Module):
    """CoCLR/ViCC's two-view policy (ViCC's training code, not stated in ViCC supp.): with probability
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
        batch, device = clip0.shape[0], clip0.device
        one_clip = _bernoulli(self.one_clip_p, (batch,), generator, device)
        keep_second = _bernoulli(0.5, (batch,), generator, device)
        first_strong = _bernoulli(0.5, (batch,), generator, device)
        strong0 = torch.where(one_clip, first_strong, _bernoulli(self.strong_p, (batch,), generator, device))
        strong1 = torch.where(one_clip, ~first_strong, _bernoulli(self.strong_p, (batch,), generator, device))
        take1_for0 = (one_clip & keep_second).to(device).view(batch, 1, 1, 1, 1)
        take0_for1 = (one_clip & ~keep_second).to(device).view(batch, 1, 1, 1, 1)
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
