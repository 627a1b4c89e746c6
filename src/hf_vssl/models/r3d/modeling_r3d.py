"""R3D: a ResNet whose BasicBlocks use full 3x3x3 convolutions (Tran et al. 2018, Hara et al. 2018).

Stages at 16x112x112 with the Hara stem (MFO supp. Table 1 for layer2..4):
stem 64x16x28x28, layer1 64x16x28x28, layer2 128x8x14x14, layer3 256x4x7x7, layer4 512x2x4x4.
The torchvision stem has no max-pool, so every map is twice as large in H and W.
Each of layer2..4 halves T, H and W in its first block (3x3x3 conv with stride 2 and padding 1,
shortcut type B: 1x1x1 conv with stride 2 + BN), so a side of n becomes ceil(n / 2).

Weight names under `stages.` and how the original checkpoints map onto them (prefix renames):
- `stem.conv1`, `stem.bn1`: Hara / MFO `conv1`, `bn1`; torchvision `stem.0`, `stem.1`;
  VCOP `conv1.temporal_spatial_conv`, `bn1`.
- `layer{i}.{j}.conv1`, `.bn1`, `.conv2`, `.bn2`: Hara / MFO `layer{i}.{j}.*` unchanged; torchvision
  `layer{i}.{j}.conv1.0` / `conv1.1` / `conv2.0` / `conv2.1`; VCOP `conv{i+1}.block1` (j = 0) and
  `conv{i+1}.blocks.{j-1}`, with `.temporal_spatial_conv` dropped.
- `layer{i}.0.downsample.0` (conv), `.downsample.1` (BN): Hara and torchvision unchanged; VCOP
  `downsampleconv.temporal_spatial_conv`, `downsamplebn`.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..modeling_utils import VsslBackbone, VsslBackboneModel, VsslForVideoClassification, residual_layers
from .configuration_r3d import R3DConfig


def _batch_norm(config: R3DConfig, channels: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=config.bn_eps, momentum=config.bn_momentum)


class R3DBasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the shortcut, then ReLU; the first conv carries the stride."""

    def __init__(self, config: R3DConfig, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _batch_norm(config, out_channels)
        self.conv2 = nn.Conv3d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = _batch_norm(config, out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            # shortcut type B (He et al. 2016; Hara et al. 2018)
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=stride, bias=False),
                _batch_norm(config, out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C_in, T, H, W) -> (B, C_out, T', H', W')."""
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


def _stem(config: R3DConfig, out_channels: int) -> nn.Sequential:
    """torchvision: 3x7x7 conv stride (1,2,2); Hara: 7x7x7 conv stride (1,2,2) + (1,3,3) max-pool stride (1,2,2)."""
    if config.stem == "hara":
        conv = nn.Conv3d(config.in_channels, out_channels, 7, stride=(1, 2, 2), padding=3, bias=False)
    else:
        conv = nn.Conv3d(
            config.in_channels, out_channels, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False
        )
    layers = OrderedDict(conv1=conv, bn1=_batch_norm(config, out_channels), relu=nn.ReLU(inplace=True))
    if config.stem == "hara":
        # temporal kernel 1 keeps T: this is what gives 8x14x14 at layer2 (MFO supp. Table 1)
        layers["maxpool"] = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
    return nn.Sequential(layers)


class R3DModel(VsslBackboneModel):
    """R3D feature extractor: stages "stem", "layer1".."layer4"; pooled output has 512 x width channels."""

    config_class = R3DConfig

    def __init__(self, config: R3DConfig) -> None:
        super().__init__(config)
        stem_channels = config.stage_channels["stem"]
        stages = OrderedDict(stem=_stem(config, stem_channels))
        stages.update(residual_layers(config, R3DBasicBlock, stem_channels))
        self.stages = nn.ModuleDict(stages)
        self.post_init()


class R3DBackbone(VsslBackbone, R3DModel):
    """R3D stages as an `AutoBackbone`: the feature maps of `config.out_features` (weights of `R3DModel`)."""

    config_class = R3DConfig


class R3DForVideoClassification(VsslForVideoClassification):
    """R3D + dropout + linear head (finetune or linear probe)."""

    config_class = R3DConfig
    backbone_class = R3DModel


__all__ = ["R3DBackbone", "R3DBasicBlock", "R3DForVideoClassification", "R3DModel"]
