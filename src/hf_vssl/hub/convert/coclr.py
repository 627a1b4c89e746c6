"""CoCLR's release (TengdaHan/CoCLR): `main_nce.py` / `main_coclr.py` save {'epoch', 'state_dict',
'best_acc', 'optimizer', 'iteration'} of a MoCo-style model: the query encoder `encoder_q` =
Sequential(S3D, pool, Conv3d, ReLU, Conv3d), the momentum encoder `encoder_k`, CoCLR's other-view
encoder `sampler` and the queues. The query encoder's backbone is kept."""

from __future__ import annotations

from .backbones import COCLR_S3D
from .source import Source, drop

SOURCE = Source(
    name="coclr",
    description="CoCLR InfoNCE / CoCLR checkpoints (S3D under `encoder_q.0.`)",
    architectures=(COCLR_S3D,),
    prefix="encoder_q.0.",
    drops=(
        *drop(r"encoder_q\.[24]\.(weight|bias)", reason="CoCLR projection head (no CoCLR method in hf-vssl)"),
        *drop(r"encoder_k\..+", reason="momentum key encoder (a lagging copy of the query encoder)"),
        *drop(r"sampler\..+", reason="CoCLR's frozen other-view encoder"),
        *drop(r"queue(_ptr|_second|_vname|_label)?", reason="MoCo queues"),
    ),
    # CoCLR's augmentation.Normalize: ImageNet mean / std
    original_input="RGB frames (or TV-L1 flow frames) scaled to [0, 1] and normalised with ImageNet mean / std",
)
