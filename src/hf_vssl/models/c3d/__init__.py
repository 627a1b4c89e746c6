"""C3D backbone ("vssl-c3d"): importing this package registers it with the Auto classes."""

from ..auto import register_backbone
from .configuration_c3d import C3DConfig
from .modeling_c3d import C3DBackbone, C3DForVideoClassification, C3DModel

register_backbone(C3DConfig, C3DModel, C3DForVideoClassification, C3DBackbone)

__all__ = ["C3DBackbone", "C3DConfig", "C3DForVideoClassification", "C3DModel"]
