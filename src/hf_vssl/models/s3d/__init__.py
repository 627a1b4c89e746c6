"""S3D / S3D-G backbones ("vssl-s3d"): importing this package registers them with the Auto classes."""

from ..auto import register_backbone
from .configuration_s3d import S3DConfig
from .modeling_s3d import (
    S3DBackbone,
    S3DBasicConv3d,
    S3DForVideoClassification,
    S3DMixedBlock,
    S3DModel,
    S3DSelfGating,
    S3DSeparableConv3d,
)

register_backbone(S3DConfig, S3DModel, S3DForVideoClassification, S3DBackbone)

__all__ = [
    "S3DBackbone",
    "S3DBasicConv3d",
    "S3DConfig",
    "S3DForVideoClassification",
    "S3DMixedBlock",
    "S3DModel",
    "S3DSelfGating",
    "S3DSeparableConv3d",
]
