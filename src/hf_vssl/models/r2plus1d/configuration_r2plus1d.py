"""Configuration of R(2+1)D, the ResNet whose 3D convolutions are factorised into spatial + temporal ones."""

from __future__ import annotations

from typing import ClassVar

from huggingface_hub.dataclasses import strict

from ..modeling_utils import VsslBackboneConfig


@strict
class R2Plus1DConfig(VsslBackboneConfig):
    """R(2+1)D-18 in its two published forms.

    - "torchvision": torchvision's `r2plus1d_18` (blocks [2,2,2,2], stem 3->45->64, one mid-channel
      count per block, 1x1x1 conv shortcut); 31,505,325 parameters with a 400-way head.
    - "compact": the R(2+1)D of VCOP / Pace Prediction / ViCC (blocks [1,1,1,1], each factorised conv
      computes its own mid channels, factorised 1x1x1 shortcut); 14,365,303 parameters without head,
      the "14.4M" of ViCC supp. Table 3.
    `layers` overrides the blocks per stage, e.g. SDC's torchvision layout with [1,1,1,1] (Qian et al., ECCV
    2022).
    """

    model_type = "vssl-r2plus1d"
    stage_names: ClassVar[tuple[str, ...]] = ("stem", "layer1", "layer2", "layer3", "layer4")
    # MFO supp. Table 1 (R3D-18), carried over to the other ResNet: low / mid / high = stages 2 / 3 / 4
    default_multilevel_stages: ClassVar[tuple[str, str, str]] = ("layer2", "layer3", "layer4")
    blocks_per_variant: ClassVar[dict[str, tuple[int, int, int, int]]] = {
        "torchvision": (2, 2, 2, 2),
        "compact": (1, 1, 1, 1),
    }
    base_channels: ClassVar[tuple[int, ...]] = (64, 64, 128, 256, 512)
    # torchvision's R2Plus1dStem: 45 mid channels between the 1x7x7 and the 3x1x1 conv (Tran et al. 2018)
    torchvision_stem_mid_channels: ClassVar[int] = 45

    # Pace Prediction and ViCC supp.: Pace Prediction and ViCC use the 14.4M R(2+1)D of VCOP
    variant: str = "compact"
    layers: list[int] | None = None  # blocks in layer1..layer4; None = the variant's own

    def validate_variant(self) -> None:
        if self.variant not in self.blocks_per_variant:
            raise ValueError(f"variant must be one of {list(self.blocks_per_variant)}, got {self.variant!r}")

    def validate_layers(self) -> None:
        if self.layers is not None and (len(self.layers) != 4 or any(n < 1 for n in self.layers)):
            raise ValueError(f"layers must be 4 positive block counts (layer1..layer4), got {self.layers}")

    @property
    def block_counts(self) -> tuple[int, int, int, int]:
        """Blocks in layer1..layer4."""
        return tuple(self.layers) if self.layers is not None else self.blocks_per_variant[self.variant]


__all__ = ["R2Plus1DConfig"]
