"""C3D with BN (Tran et al. 2015, in the form of VCOP's and Pace Prediction's `c3d.py`).

Every conv is 3x3x3 with padding 1 and a bias, followed by BN and ReLU. Max-pools close stages
conv1..conv4: pool1 (1,2,2) keeps time, pool2..pool4 are 2x2x2 with stride 2 and floor rounding, as
in the original, so pretrained weights see the maps they were trained on. pool5 of the original is
AdaptiveAvgPool3d(1), i.e. this model's `pooler_output`, so stage conv5 ends at relu5b.
Stages at 16x112x112: conv1 64x16x56x56, conv2 128x8x28x28, conv3 256x4x14x14, conv4 512x2x7x7,
conv5 512x2x7x7. Smallest input: 8 frames of 16x16 (each of pool2..pool4 halves T, H and W; pool1
halves H and W); smaller inputs raise the too-small error.

Weight names under `stages.`: `conv{i}.conv{i}{s}` and `conv{i}.bn{i}{s}` with s = "" for stages 1-2
and "a" / "b" for 3-5; the original's flat `conv3a.*`, `bn3a.*` ... map by prefixing `stages.conv3.`.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from ..modeling_utils import VsslBackbone, VsslBackboneModel, VsslForVideoClassification
from .configuration_c3d import C3DConfig

# per stage: the conv-name suffixes (one conv in stages 1-2, two in 3-5) and the closing max-pool
STAGE_LAYOUT: tuple[tuple[tuple[str, ...], tuple[int, int, int] | None], ...] = (
    (("",), (1, 2, 2)),
    (("",), (2, 2, 2)),
    (("a", "b"), (2, 2, 2)),
    (("a", "b"), (2, 2, 2)),
    (("a", "b"), None),
)


def _stage(
    config: C3DConfig,
    index: int,
    in_channels: int,
    out_channels: int,
    suffixes: tuple[str, ...],
    pool: tuple[int, int, int] | None,
) -> nn.Sequential:
    """conv-BN-ReLU once per suffix, then the stage's max-pool (if any)."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for suffix in suffixes:
        layers[f"conv{index}{suffix}"] = nn.Conv3d(in_channels, out_channels, 3, padding=1)
        layers[f"bn{index}{suffix}"] = nn.BatchNorm3d(
            out_channels, eps=config.bn_eps, momentum=config.bn_momentum
        )
        layers[f"relu{index}{suffix}"] = nn.ReLU(inplace=True)
        in_channels = out_channels
    if pool is not None:
        layers[f"pool{index}"] = nn.MaxPool3d(kernel_size=pool, stride=pool)
    return nn.Sequential(layers)


class C3DModel(VsslBackboneModel):
    """C3D feature extractor: stages "conv1".."conv5"; pooled output has 512 x width channels."""

    config_class = C3DConfig

    def __init__(self, config: C3DConfig) -> None:
        super().__init__(config)
        channels = config.stage_channels
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels = config.in_channels
        for index, (name, (suffixes, pool)) in enumerate(zip(config.stage_names, STAGE_LAYOUT), start=1):
            stages[name] = _stage(config, index, in_channels, channels[name], suffixes, pool)
            in_channels = channels[name]
        self.stages = nn.ModuleDict(stages)
        self.post_init()


class C3DBackbone(VsslBackbone, C3DModel):
    """C3D stages as an `AutoBackbone`: the feature maps of `config.out_features` (weights of `C3DModel`)."""

    config_class = C3DConfig


class C3DForVideoClassification(VsslForVideoClassification):
    """C3D + dropout + linear head (finetune or linear probe)."""

    config_class = C3DConfig
    backbone_class = C3DModel


__all__ = ["C3DBackbone", "C3DForVideoClassification", "C3DModel"]
