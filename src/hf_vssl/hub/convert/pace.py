"""Pace Prediction's release (laura-wang/video-pace): `train.py` saves {'epoch', 'state_dict', 'opt_dict'}
of an `nn.DataParallel` model, so keys carry `module.`; the backbone is VCOP's R(2+1)D or C3D with the
pace classifier `linear` on top."""

from __future__ import annotations

from .backbones import C3D, COMPACT_R2PLUS1D
from .source import Source, drop

SOURCE = Source(
    name="pace",
    description="Pace Prediction checkpoints (R(2+1)D or C3D, `module.` prefix)",
    architectures=(COMPACT_R2PLUS1D, C3D),
    prefix="",
    drops=drop(r"linear\.(weight|bias)", reason="pace classification head (one logit per pace)"),
    # the release's `ucf101_pace_pretrain` reads frames with cv2.imread and never rescales them
    original_input="BGR frames read with OpenCV, values 0-255 without mean / std normalisation",
)
