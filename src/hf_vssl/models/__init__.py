"""Video backbones, one folder per family; importing a family registers it with the Auto classes."""

from . import c3d, r2plus1d, r3d, s3d  # noqa: F401  (registration side effect)
from .modeling_utils import (
    MULTILEVEL_NAMES,
    VsslBackbone,
    VsslBackboneConfig,
    VsslBackboneModel,
    VsslForVideoClassification,
    VsslModelOutput,
    VsslPreTrainedModel,
)

__all__ = [
    "MULTILEVEL_NAMES",
    "VsslBackbone",
    "VsslBackboneConfig",
    "VsslBackboneModel",
    "VsslForVideoClassification",
    "VsslModelOutput",
    "VsslPreTrainedModel",
]
