"""Configuration of S3D / S3D-G (Xie et al. 2018) in the layout of CoCLR and ViCC."""

from __future__ import annotations

from typing import ClassVar

from huggingface_hub.dataclasses import strict

from ..modeling_utils import VsslBackboneConfig


@strict
class S3DConfig(VsslBackboneConfig):
    """S3D as CoCLR / ViCC build it (docs/METHODS.md#s3d); `gating=True` is S3D-G.

    The BN defaults of the base (eps 1e-5, momentum 0.1) are CoCLR's; the TensorFlow S3D and
    torchvision use 1e-3 / 0.001.
    """

    model_type = "vssl-s3d"
    stage_names: ClassVar[tuple[str, ...]] = (
        "Conv_1a",
        "MaxPool_2a",
        "Conv_2b",
        "Conv_2c",
        "MaxPool_3a",
        "Mixed_3b",
        "Mixed_3c",
        "MaxPool_4a",
        "Mixed_4b",
        "Mixed_4c",
        "Mixed_4d",
        "Mixed_4e",
        "Mixed_4f",
        "MaxPool_5a",
        "Mixed_5b",
        "Mixed_5c",
    )
    # MFO supp. Table 2: low / mid / high = Mixed-3c / Mixed-4f / Mixed-5c
    default_multilevel_stages: ClassVar[tuple[str, str, str]] = ("Mixed_3c", "Mixed_4f", "Mixed_5c")
    # output channels of the convolution stages (docs/METHODS.md#s3d, CoCLR `s3dg.py`)
    conv_channels: ClassVar[dict[str, int]] = {"Conv_1a": 64, "Conv_2b": 64, "Conv_2c": 192}
    # Mixed blocks: [b0, b1a, b1b, b2a, b2b, b3] (docs/METHODS.md#s3d, CoCLR `s3dg.py`)
    mixed_channels: ClassVar[dict[str, tuple[int, int, int, int, int, int]]] = {
        "Mixed_3b": (64, 96, 128, 16, 32, 32),
        "Mixed_3c": (128, 128, 192, 32, 96, 64),
        "Mixed_4b": (192, 96, 208, 16, 48, 64),
        "Mixed_4c": (160, 112, 224, 24, 64, 64),
        "Mixed_4d": (128, 128, 256, 24, 64, 64),
        "Mixed_4e": (112, 144, 288, 32, 64, 64),
        "Mixed_4f": (256, 160, 320, 32, 128, 128),
        "Mixed_5b": (256, 160, 320, 32, 128, 128),
        "Mixed_5c": (384, 192, 384, 48, 128, 128),
    }

    # S3D-G (Xie et al. 2018 sec. 5): sigmoid feature gating on every Mixed branch; ViCC supp. Table 3
    # lists Pace Prediction with S3D-G, CoCLR / ViCC with plain S3D
    gating: bool = False
    # MaxPool_5a (2x2x2, stride 2) rounds a side up: MFO supp. Table 2 gives Mixed-5c 2x4x4 at 16x112x112
    # (7 -> 4). CoCLR's and ViCC's `backbone/s3dg.py:190` and torchvision's `s3d.py` pool with floor
    # (7 -> 3; the converters of those releases set False so a converted model equals its original)
    pool5_ceil_mode: bool = True

    def validate_gating(self) -> None:
        # field types are not enforced at construction, and a truthy string would silently build S3D-G
        for name in ("gating", "pool5_ceil_mode"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def scaled_mixed_channels(self, name: str) -> tuple[int, ...]:
        """[b0, b1a, b1b, b2a, b2b, b3] of Mixed block `name`, scaled."""
        return tuple(self.scaled_channels(c) for c in self.mixed_channels[name])

    @property
    def stage_channels(self) -> dict[str, int]:
        channels: dict[str, int] = {}
        previous = self.in_channels
        for name in self.stage_names:
            if name in self.conv_channels:
                previous = self.scaled_channels(self.conv_channels[name])
            elif name in self.mixed_channels:
                b0, _, b1, _, b2, b3 = self.scaled_mixed_channels(name)
                previous = b0 + b1 + b2 + b3
            channels[name] = previous  # a max-pool keeps its input's channels
        return channels


__all__ = ["S3DConfig"]
