"""torchvision's Kinetics-400 video weights (`r3d_18`, `r2plus1d_18`, `s3d`): bare state dicts, read
without importing torchvision."""

from __future__ import annotations

from .backbones import TORCHVISION_R2PLUS1D, TORCHVISION_R3D, TORCHVISION_S3D
from .source import Source, drop

SOURCE = Source(
    name="torchvision",
    description="torchvision Kinetics-400 weights: r3d_18, r2plus1d_18, s3d",
    architectures=(TORCHVISION_R3D, TORCHVISION_R2PLUS1D, TORCHVISION_S3D),
    prefix="",
    drops=drop(
        r"fc\.(weight|bias)", r"classifier\.1\.(weight|bias)", reason="Kinetics-400 classifier (400 classes)"
    ),
    # torchvision's VideoClassification preset: [0, 1], Kinetics mean / std
    original_input=(
        "RGB frames scaled to [0, 1] and normalised with mean (0.43216, 0.394666, 0.37645) and std "
        "(0.22803, 0.22145, 0.216989) (torchvision's Kinetics preset)"
    ),
)
