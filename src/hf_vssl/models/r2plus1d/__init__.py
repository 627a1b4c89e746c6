"""R(2+1)D backbones ("vssl-r2plus1d"): importing this package registers them with the Auto classes."""

from ..auto import register_backbone
from .configuration_r2plus1d import R2Plus1DConfig
from .modeling_r2plus1d import (
    Conv2Plus1D,
    R2Plus1DBackbone,
    R2Plus1DBasicBlock,
    R2Plus1DForVideoClassification,
    R2Plus1DModel,
    factorised_mid_channels,
)

register_backbone(R2Plus1DConfig, R2Plus1DModel, R2Plus1DForVideoClassification, R2Plus1DBackbone)

__all__ = [
    "Conv2Plus1D",
    "R2Plus1DBackbone",
    "R2Plus1DBasicBlock",
    "R2Plus1DConfig",
    "R2Plus1DForVideoClassification",
    "R2Plus1DModel",
    "factorised_mid_channels",
]
