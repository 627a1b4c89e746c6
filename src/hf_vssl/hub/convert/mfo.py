"""MFO's release (shvdiwnkozbw/Video-Representation-via-Multi-level-Optimization): `train.py` saves the
bare state dict of `GreatModel` (no `module.`): Hara et al.'s R3D-18 under `backbone.` with two
motion-excitation blocks and an unused classifier, plus the pretext projections and prototypes."""

from __future__ import annotations

from .backbones import HARA_R3D
from .source import Source, drop

SOURCE = Source(
    name="mfo",
    description="MFO checkpoints (Hara R3D-18 under `backbone.`)",
    architectures=(HARA_R3D,),
    prefix="backbone.",
    drops=(
        *drop(
            r"backbone\.(melow|memid)\..+",
            reason="motion-excitation blocks of the pretext's low / mid features",
        ),
        *drop(r"backbone\.fc\.(weight|bias)", reason="unused classifier of the backbone file"),
        *drop(r"project\w*\.\d+\.\w+", reason="MFO pretext projection heads"),
        *drop(r"prototype\.weight", reason="MFO prototypes"),
    ),
    # train.py: CoCLR-style ToTensor() + Normalize() (ImageNet mean / std)
    original_input="RGB frames scaled to [0, 1] and normalised with ImageNet mean / std",
)
