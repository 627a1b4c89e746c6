"""Configuration of R3D, the 3D ResNet with BasicBlocks of 3x3x3 convolutions."""

from __future__ import annotations

from typing import ClassVar

from huggingface_hub.dataclasses import strict

from ..modeling_utils import VsslBackboneConfig


@strict
class R3DConfig(VsslBackboneConfig):
    """R3D-10/18/34 with the torchvision or the Hara et al. stem.

    depth 18 with the Hara stem is the R3D-18 of MFO (MFO supp. Table 1); depth 10 with the
    torchvision stem is the "R3D" of VCOP / ViCC (blocks [1,1,1,1], about 14.4M parameters).
    """

    model_type = "vssl-r3d"
    stage_names: ClassVar[tuple[str, ...]] = ("stem", "layer1", "layer2", "layer3", "layer4")
    # MFO supp. Table 1: low / mid / high = ResNet stages 2 / 3 / 4
    default_multilevel_stages: ClassVar[tuple[str, str, str]] = ("layer2", "layer3", "layer4")
    # BasicBlocks per stage (He et al. 2016 table 1; depth 10 is VCOP's R3D)
    blocks_per_depth: ClassVar[dict[int, tuple[int, int, int, int]]] = {
        10: (1, 1, 1, 1),
        18: (2, 2, 2, 2),
        34: (3, 4, 6, 3),
    }
    stems: ClassVar[tuple[str, ...]] = ("torchvision", "hara")
    base_channels: ClassVar[tuple[int, ...]] = (64, 64, 128, 256, 512)

    depth: int = 18  # MFO supp.: MFO uses R3D-18; SDC supp. Table 4 also R3D-34
    # MFO supp. Table 1 / docs/METHODS.md#mfo: MFO's R3D-18 is Hara et al.'s (7x7x7 stem conv + (1,3,3)
    # max-pool)
    stem: str = "hara"

    def validate_depth(self) -> None:
        if self.depth not in self.blocks_per_depth:
            raise ValueError(f"depth must be one of {sorted(self.blocks_per_depth)}, got {self.depth}")

    def validate_stem(self) -> None:
        if self.stem not in self.stems:
            raise ValueError(f"stem must be one of {list(self.stems)}, got {self.stem!r}")

    @property
    def block_counts(self) -> tuple[int, int, int, int]:
        """BasicBlocks in layer1..layer4."""
        return self.blocks_per_depth[self.depth]


__all__ = ["R3DConfig"]
