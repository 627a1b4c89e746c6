"""R(2+1)D: a ResNet-18 whose t x k x k convolutions are a 1 x k x k spatial conv to M channels, BN,
ReLU and a t x 1 x 1 temporal conv (Tran et al. 2018).

Both published forms share one layout here; `config.variant` picks the mid channels M and the shortcut:
- "torchvision" (`r2plus1d_18`): M = 45 in the stem; one M per block,
  (Cin * Cout * 27) // (Cin * 9 + 3 * Cout) from the block's input and output channels, used by both
  of its convs; the stride-2 shortcut is a 1x1x1 Conv3d + BN.
- "compact" (VCOP / Pace Prediction / ViCC `r21d.py`): every factorised conv computes its own
  M = floor(t*k*k*Cin*Cout / (k*k*Cin + t*Cout)) (stem 3->83->64); the stride-2 shortcut is itself a
  factorised 1x1x1 conv (spatial stride (1,2,2), BN, ReLU, temporal stride (2,1,1)) + BN.
Stages at 16x112x112: stem 64x16x56x56, layer1 64x16x56x56, layer2 128x8x28x28, layer3 256x4x14x14,
layer4 512x2x7x7.

Weight names under `stages.` and how the original checkpoints map onto them (prefix renames):
- `stem.conv1.spatial_conv` / `.bn` / `.temporal_conv`, `stem.bn1`: compact `conv1.spatial_conv` /
  `conv1.bn` / `conv1.temporal_conv`, `bn1`; torchvision `stem.0`, `stem.1`, `stem.3`, `stem.4`.
- `layer{i}.{j}.conv1.spatial_conv` / `.bn` / `.temporal_conv`, `.bn1`, and the same for `conv2`, `bn2`:
  compact `conv{i+1}.block1.*` (j = 0) and `conv{i+1}.blocks.{j-1}.*`, inner names unchanged;
  torchvision `layer{i}.{j}.conv1.0.0` / `conv1.0.1` / `conv1.0.3`, `conv1.1` (-> `bn1`), same for conv2.
- `layer{i}.0.downsample.0` (a Conv3d, or for compact a factorised conv with `spatial_conv` / `bn` /
  `temporal_conv`), `layer{i}.0.downsample.1` (BN): torchvision unchanged; compact `downsampleconv`,
  `downsamplebn`.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..modeling_utils import VsslBackbone, VsslBackboneModel, VsslForVideoClassification, residual_layers
from .configuration_r2plus1d import R2Plus1DConfig

Triple = tuple[int, int, int]


def _batch_norm(config: R2Plus1DConfig, channels: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=config.bn_eps, momentum=config.bn_momentum)


def factorised_mid_channels(in_channels: int, out_channels: int, kernel_size: Triple) -> int:
    """M that gives the (2+1)D conv about the parameters of the full t x k x k conv (Tran et al. 2018, sec. 3.5)."""
    t, kh, kw = kernel_size
    return (t * kh * kw * in_channels * out_channels) // (kh * kw * in_channels + t * out_channels)


class Conv2Plus1D(nn.Module):
    """A t x k x k conv as 1 x k x k conv -> BN -> ReLU -> t x 1 x 1 conv; used in place of a Conv3d."""

    def __init__(
        self,
        config: R2Plus1DConfig,
        in_channels: int,
        out_channels: int,
        mid_channels: int,
        kernel_size: Triple,
        stride: Triple,
        padding: Triple,
    ) -> None:
        super().__init__()
        self.spatial_conv = nn.Conv3d(
            in_channels,
            mid_channels,
            (1, kernel_size[1], kernel_size[2]),
            stride=(1, stride[1], stride[2]),
            padding=(0, padding[1], padding[2]),
            bias=False,
        )
        self.bn = _batch_norm(config, mid_channels)
        self.relu = nn.ReLU(inplace=True)
        self.temporal_conv = nn.Conv3d(
            mid_channels,
            out_channels,
            (kernel_size[0], 1, 1),
            stride=(stride[0], 1, 1),
            padding=(padding[0], 0, 0),
            bias=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C_in, T, H, W) -> (B, C_out, T', H', W')."""
        return self.temporal_conv(self.relu(self.bn(self.spatial_conv(x))))


class R2Plus1DBasicBlock(nn.Module):
    """(2+1)D conv-BN-ReLU-(2+1)D conv-BN plus the shortcut, then ReLU; the first conv carries the stride."""

    def __init__(self, config: R2Plus1DConfig, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        compact = config.variant == "compact"
        kernel = (3, 3, 3)
        mid1 = factorised_mid_channels(in_channels, out_channels, kernel)
        # torchvision reuses the first conv's M for the second; the compact form recomputes it
        mid2 = factorised_mid_channels(out_channels, out_channels, kernel) if compact else mid1
        self.conv1 = Conv2Plus1D(config, in_channels, out_channels, mid1, kernel, (stride,) * 3, (1, 1, 1))
        self.bn1 = _batch_norm(config, out_channels)
        self.conv2 = Conv2Plus1D(config, out_channels, out_channels, mid2, kernel, (1, 1, 1), (1, 1, 1))
        self.bn2 = _batch_norm(config, out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            if compact:
                mid = factorised_mid_channels(in_channels, out_channels, (1, 1, 1))
                shortcut = Conv2Plus1D(
                    config, in_channels, out_channels, mid, (1, 1, 1), (stride,) * 3, (0, 0, 0)
                )
            else:
                shortcut = nn.Conv3d(in_channels, out_channels, 1, stride=stride, bias=False)
            self.downsample = nn.Sequential(shortcut, _batch_norm(config, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C_in, T, H, W) -> (B, C_out, T', H', W')."""
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


def _stem(config: R2Plus1DConfig, out_channels: int) -> nn.Sequential:
    """(2+1)D form of a 3x7x7 conv with stride (1,2,2), then BN and ReLU; no max-pool."""
    kernel = (3, 7, 7)
    if config.variant == "compact":
        mid = factorised_mid_channels(config.in_channels, out_channels, kernel)
    else:
        mid = config.scaled_channels(config.torchvision_stem_mid_channels)
    conv = Conv2Plus1D(config, config.in_channels, out_channels, mid, kernel, (1, 2, 2), (1, 3, 3))
    return nn.Sequential(
        OrderedDict(conv1=conv, bn1=_batch_norm(config, out_channels), relu=nn.ReLU(inplace=True))
    )


class R2Plus1DModel(VsslBackboneModel):
    """R(2+1)D feature extractor: stages "stem", "layer1".."layer4"; pooled output has 512 x width channels."""

    config_class = R2Plus1DConfig

    def __init__(self, config: R2Plus1DConfig) -> None:
        super().__init__(config)
        stem_channels = config.stage_channels["stem"]
        stages = OrderedDict(stem=_stem(config, stem_channels))
        stages.update(residual_layers(config, R2Plus1DBasicBlock, stem_channels))
        self.stages = nn.ModuleDict(stages)
        self.post_init()


class R2Plus1DBackbone(VsslBackbone, R2Plus1DModel):
    """R(2+1)D stages as an `AutoBackbone`: the feature maps of `config.out_features` (weights of `R2Plus1DModel`)."""

    config_class = R2Plus1DConfig


class R2Plus1DForVideoClassification(VsslForVideoClassification):
    """R(2+1)D + dropout + linear head (finetune or linear probe)."""

    config_class = R2Plus1DConfig
    backbone_class = R2Plus1DModel


__all__ = [
    "Conv2Plus1D",
    "R2Plus1DBackbone",
    "R2Plus1DBasicBlock",
    "R2Plus1DForVideoClassification",
    "R2Plus1DModel",
    "factorised_mid_channels",
]
