"""Pretext methods, one folder each; importing a method registers it with the method registry."""

from . import mfo, pace, sdc, vicc  # noqa: F401  (registration side effect)
from .modeling_pretraining import VsslForPretraining, VsslPretrainingConfig, VsslPretrainingOutput
from .registry import build_method_config

__all__ = ["VsslForPretraining", "VsslPretrainingConfig", "VsslPretrainingOutput", "build_method_config"]
