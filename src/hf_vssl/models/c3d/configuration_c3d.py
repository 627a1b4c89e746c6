"""Configuration of C3D, the plain 3x3x3-conv network with BN of VCOP and Pace Prediction."""

from __future__ import annotations

from typing import ClassVar

from huggingface_hub.dataclasses import strict

from ..modeling_utils import VsslBackboneConfig


@strict
class C3DConfig(VsslBackboneConfig):
    """C3D with BN (VCOP / Pace Prediction `c3d.py`, Pace Prediction supp.): conv1 64, conv2 128, conv3a/b
    256, conv4a/b 512, conv5a/b 512; pool5 is the global average pool of `pooler_output`."""

    model_type = "vssl-c3d"
    stage_names: ClassVar[tuple[str, ...]] = ("conv1", "conv2", "conv3", "conv4", "conv5")
    # the last three stages, as the ResNets' layer2..4 of MFO supp. Table 1
    default_multilevel_stages: ClassVar[tuple[str, str, str]] = ("conv3", "conv4", "conv5")
    base_channels: ClassVar[tuple[int, ...]] = (64, 128, 256, 512, 512)


__all__ = ["C3DConfig"]
