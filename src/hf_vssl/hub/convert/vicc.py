"""ViCC's release (martinetoering/ViCC): `main_single.py` / `main_cross.py` save {'epoch', 'state_dict',
'best_loss', 'optimizer', 'iteration'}; the encoder is `encoder_q` = Sequential(backbone, pool,
Conv3d F->F, ReLU, Conv3d F->128), then `prototypes` (300 x 128). Cross-stream checkpoints add
`second`, the other stream's frozen encoder of the same form. The S3D is CoCLR's, the R(2+1)D VCOP's.
The result is a `ViCCForPretraining` checkpoint: projection, prototypes and the frozen stream carry over
(the release keeps its queue outside the state dict, so the queue starts empty)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .backbones import COCLR_S3D, COMPACT_R2PLUS1D, TARGET, Architecture
from .keymap import KeyMap
from .source import Source


def heads(architecture: Architecture) -> KeyMap:
    """encoder_q.2 / .4 -> projection.0 / .2, prototypes, and the frozen stream `second.*`."""
    projection = (
        (r"encoder_q\.2\.(weight|bias)", r"projection.0.\g<1>"),
        (r"encoder_q\.4\.(weight|bias)", r"projection.2.\g<1>"),
        (r"prototypes\.weight", "prototypes.weight"),
        (r"second\.2\.(weight|bias)", r"second.projection.0.\g<1>"),
        (r"second\.4\.(weight|bias)", r"second.projection.2.\g<1>"),
    )
    return KeyMap(projection) + architecture.keymap("second.0.", f"second.backbone.{TARGET}")


def method_config(
    tensors: Mapping[str, torch.Tensor], architecture: Architecture, stream: str = "rgb"
) -> dict[str, Any]:
    """ViCCConfig fields: the trained stream (the file does not record it), head sizes, stage, and the
    flow encoder's input channels (the trained one's for a flow stream, else the frozen one's)."""
    encoders = {
        owner: {
            k.removeprefix(f"{owner}."): v for k, v in tensors.items() if k.startswith(f"{owner}.{TARGET}")
        }
        for owner in ("backbone", "second.backbone")
    }
    cross_stream = bool(encoders["second.backbone"])
    flow_encoder = encoders["backbone"] if stream == "flow" else encoders["second.backbone"]
    flow_channels = architecture.infer(flow_encoder)["in_channels"] if flow_encoder else None
    return {
        "stream": stream,
        "cross_stream": cross_stream,
        "projection_dim": tensors["projection.2.weight"].shape[0],
        "num_prototypes": tensors["prototypes.weight"].shape[0],
        **({"flow_channels": flow_channels} if flow_channels is not None else {}),
    }


SOURCE = Source(
    name="vicc",
    description="ViCC single- / cross-stream checkpoints, RGB or flow (--stream), S3D or R(2+1)D",
    architectures=(COCLR_S3D, COMPACT_R2PLUS1D),
    prefix="encoder_q.0.",
    drops=(),
    # CoCLR's augmentation.Normalize (ImageNet mean / std); flow frames go through the same pipeline
    original_input=(
        "RGB frames (or flow frames (128, v, u) from TV-L1 flow clipped to +-20) scaled to [0, 1] and "
        "normalised with ImageNet mean / std"
    ),
    method="vicc",
    heads=heads,
    method_config=method_config,
    fresh=("queue.",),
)
