"""A tiny pretext method for the training-loop tests: a real `VsslForPretraining` + `MethodSpec`.

Two clips of a video are positives; negatives are a queue of past embeddings (a buffer, filled with
the global batch after every optimizer step, so it is part of the checkpoint and identical on every
process). Its augmentation is deterministic (centre crop), so a run's result depends only on the
data order and the weights: what the resume and multi-process tests compare.
"""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import AutoConfig
from transformers import initialization as init
from transformers.configuration_utils import SubConfigSpec

from hf_vssl.data.augment import normalize, to_float_clips
from hf_vssl.data.samplers import TwoClipSampler
from hf_vssl.methods.modeling_pretraining import (
    VsslForPretraining,
    VsslPretrainingConfig,
    VsslPretrainingOutput,
)
from hf_vssl.methods.registry import METHODS, MethodSpec, register_method

METHOD = "tiny-contrast"


@strict
class TinyContrastConfig(VsslPretrainingConfig):
    model_type = "vssl-tiny-contrast"
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "backbone_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="vssl-r3d",
            init_kwargs={"depth": 10, "width_multiplier": 0.125},
        ),
    }
    num_frames: int = 4
    frame_size: list[int] | None = field(default_factory=lambda: [40, 50])
    crop_size: int = 32
    projection_dim: int = 16
    queue_size: int = 16
    temperature: float = 0.2
    optimizer: str = "sgd"
    learning_rate: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_schedule: str = "cosine"
    final_lr: float = 0.0
    epochs: int = 2
    batch_size: int = 4


class TinyQueue(nn.Module):
    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("embeddings", torch.zeros(size, dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    def _init_vssl_weights(self) -> None:
        init.zeros_(self.embeddings)
        init.zeros_(self.filled)

    @torch.no_grad()
    def push(self, batch: torch.Tensor) -> None:
        self.embeddings.copy_(torch.cat([batch, self.embeddings])[: len(self.embeddings)])
        self.filled.add_(len(batch)).clamp_(max=len(self.embeddings))


class TinyContrastForPretraining(VsslForPretraining):
    config_class = TinyContrastConfig

    def __init__(self, config: TinyContrastConfig) -> None:
        super().__init__(config)
        hidden = config.backbone_config.hidden_size
        self.projection = nn.Sequential(
            nn.Linear(hidden, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, config.projection_dim),
        )
        self.queue = TinyQueue(config.queue_size, config.projection_dim)
        self._last: torch.Tensor | None = None
        self.post_init()

    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(self.backbone(pixel_values).pooler_output), dim=1)

    def forward(self, clip0: torch.Tensor, clip1: torch.Tensor, **kwargs) -> VsslPretrainingOutput:
        """clip0, clip1: (B, C, T, H, W), two clips of each video."""
        batch = len(clip0)
        z = self.embed(torch.cat([clip0, clip1]))
        z0, z1 = z[:batch], z[batch:]
        negatives = self.queue.embeddings[: int(self.queue.filled)]
        positives = (z0 * z1).sum(1, keepdim=True)
        logits = torch.cat([positives, z0 @ negatives.T], dim=1) / self.config.temperature
        loss = F.cross_entropy(logits, torch.zeros(batch, dtype=torch.long, device=logits.device))
        self._last = z0.detach()
        return VsslPretrainingOutput(
            loss=loss, loss_terms={"nce": loss.detach()}, metrics={"positive_cos": positives.detach().mean()}
        )

    def after_optimizer_step(self) -> None:
        batch = self._last
        if dist.is_available() and dist.is_initialized():
            parts = [torch.empty_like(batch) for _ in range(dist.get_world_size())]
            dist.all_gather(parts, batch)
            batch = torch.cat(parts)
        self.queue.push(batch)


class TinyAugment(nn.Module):
    """uint8 views (B, T, H, W, C) -> normalised centre crops (B, C, T, crop, crop)."""

    def __init__(self, crop_size: int) -> None:
        super().__init__()
        self.crop_size = crop_size

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        out = {}
        for name in ("clip0", "clip1"):
            clips = normalize(to_float_clips(batch["views"][name]))
            top = (clips.shape[-2] - self.crop_size) // 2
            left = (clips.shape[-1] - self.crop_size) // 2
            out[name] = clips[..., top : top + self.crop_size, left : left + self.crop_size].contiguous()
        return out


def register() -> MethodSpec:
    if METHOD in METHODS:
        return METHODS[METHOD]
    return register_method(
        MethodSpec(
            name=METHOD,
            config_class=TinyContrastConfig,
            model_class=TinyContrastForPretraining,
            build_sampler=lambda config: TwoClipSampler(num_frames=config.num_frames),
            build_augment=lambda config: TinyAugment(config.crop_size),
        )
    )
