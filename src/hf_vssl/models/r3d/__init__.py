"""R3D backbones ("vssl-r3d"): importing this package registers them with the Auto classes."""

from ..auto import register_backbone
from .configuration_r3d import R3DConfig
from .modeling_r3d import R3DBackbone, R3DBasicBlock, R3DForVideoClassification, R3DModel

register_backbone(R3DConfig, R3DModel, R3DForVideoClassification, R3DBackbone)

__all__ = ["R3DBackbone", "R3DBasicBlock", "R3DConfig", "R3DForVideoClassification", "R3DModel"]
