"""SDC's release (shvdiwnkozbw/Self-supervised-Video-Concept): `train.py` saves the state dict of an
`nn.DataParallel(GreatModel)` (keys carry `module.`): a torchvision-layout R(2+1)D (or Hara R3D) under
`backbone.`, plus heads, decoders, concept prototypes, the local-matching transformer and the queue."""

from __future__ import annotations

from .backbones import HARA_R3D, TORCHVISION_R2PLUS1D
from .source import Source, drop

SOURCE = Source(
    name="sdc",
    description="SDC checkpoints (torchvision-layout R(2+1)D or Hara R3D under `backbone.`)",
    architectures=(TORCHVISION_R2PLUS1D, HARA_R3D),
    prefix="backbone.",
    drops=(
        *drop(r"backbone\.fc\.(weight|bias)", reason="unused classifier of the backbone file"),
        *drop(r"f(vv|vs|vd|sv|dv|v|s|d)\.\d+\.\w+", reason="SDC projection heads"),
        *drop(r"g[vsd]\.\d+\.\w+", reason="SDC concept decoders"),
        *drop(r"prototype(_s|_d)?\.weight", reason="SDC concept prototypes"),
        *drop(r"lit\..+", reason="SDC local concept matching transformer"),
        *drop(r"queue", reason="SDC queue of past concept scores"),
    ),
    # train.py: CoCLR-style ToTensor() + Normalize() (ImageNet mean / std)
    original_input="RGB frames scaled to [0, 1] and normalised with ImageNet mean / std",
)
