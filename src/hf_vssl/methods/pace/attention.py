"""Attention maps of Pace Prediction supp. Fig. 1 (Zagoruyko & Komodakis' activation-based attention): the
channel-wise mean of squared activations of the last stage, upsampled to the clip's frames and
overlaid on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import colormaps
from PIL import Image
from torch import nn

from ...data.augment import normalize, to_float_clips


@torch.no_grad()
def attention_maps(model: nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    """model: a backbone or a pretraining model (its `.backbone` is used); pixel_values: normalised
    clips (B, C, T, H, W) -> per-frame maps (B, T, H, W), each clip scaled to [0, 1]."""
    backbone = getattr(model, "backbone", model)
    was_training = backbone.training
    backbone.eval()
    try:
        last = backbone(pixel_values).last_hidden_state  # (B, C', T', H', W')
    finally:
        backbone.train(was_training)
    maps = last.float().square().mean(dim=1, keepdim=True)
    maps = F.interpolate(maps, size=pixel_values.shape[2:], mode="trilinear", align_corners=False)[:, 0]
    low = maps.amin(dim=(1, 2, 3), keepdim=True)
    high = maps.amax(dim=(1, 2, 3), keepdim=True)
    return (maps - low) / (high - low).clamp_min(1e-12)


def save_attention_overlay(
    frames: np.ndarray,
    maps: np.ndarray | torch.Tensor,
    path: str | Path,
    every: int = 3,
    alpha: float = 0.5,
    colormap: str = "jet",
) -> Path:
    """frames: uint8 (T, H, W, 3); maps: (T, H, W) in [0, 1]. Writes one PNG row with every `every`-th
    frame blended with its heat map (Pace Prediction supp. Fig. 1 shows every 3rd frame)."""
    maps = maps.detach().cpu().numpy() if isinstance(maps, torch.Tensor) else np.asarray(maps)
    if frames.ndim != 4 or frames.shape[-1] != 3 or maps.shape != frames.shape[:3]:
        raise ValueError(
            f"frames must be uint8 (T, H, W, 3) and maps (T, H, W) of the same size, got {frames.shape} and {maps.shape}"
        )
    if every < 1 or not 0 <= alpha <= 1:
        raise ValueError(f"every must be >= 1 and alpha in [0, 1], got {every}, {alpha}")
    heat = colormaps[colormap](np.clip(maps, 0, 1))[..., :3] * 255.0
    blended = (1 - alpha) * frames.astype(np.float32) + alpha * heat
    row = np.concatenate(list(blended[::every]), axis=1).round().astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(row).save(path)
    return path


def attention_overlay(model: nn.Module, frames: np.ndarray, path: str | Path, every: int = 3) -> Path:
    """One clip's figure: frames uint8 (T, H, W, 3) at the model's input size (ImageNet-normalised as
    in training) -> attention maps -> overlay PNG at `path`."""
    device = next(model.parameters()).device
    pixel_values = normalize(to_float_clips(torch.from_numpy(np.ascontiguousarray(frames))[None].to(device)))
    return save_attention_overlay(frames, attention_maps(model, pixel_values)[0], path, every=every)
