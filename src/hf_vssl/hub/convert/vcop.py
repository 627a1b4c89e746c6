"""VCOP's release (xudejing/video-clip-order-prediction): `train_vcop.py` saves the bare state dict of
`VCOPN`, whose backbone is `base_network` (R(2+1)D, R3D or C3D with blocks [1,1,1,1]) and whose
clip-order head is `fc7` / `fc8`."""

from __future__ import annotations

from .backbones import C3D, COMPACT_R2PLUS1D, VCOP_R3D
from .source import Source, drop

SOURCE = Source(
    name="vcop",
    description="VCOP clip-order checkpoints (R(2+1)D, R3D or C3D under `base_network.`)",
    architectures=(COMPACT_R2PLUS1D, VCOP_R3D, C3D),
    prefix="base_network.",
    drops=drop(r"fc[78]\.(weight|bias)", reason="clip-order prediction head (pairwise fc7, fc8)"),
    # train_vcop.py: transforms.ToTensor() after Resize((128, 171)) and a 112 crop, no Normalize
    original_input="RGB frames scaled to [0, 1] without mean / std normalisation",
)
