"""S3D and S3D-G (Xie et al. 2018), built as CoCLR / ViCC build them, so their checkpoints load by a prefix rename.

Stages at 16x112x112 (MFO supp. Table 2 for Mixed_3c / 4f / 5c):
Conv_1a 64x8x56x56, MaxPool_2a 64x8x28x28, Conv_2b 64x8x28x28, Conv_2c 192x8x28x28,
MaxPool_3a 192x8x14x14, Mixed_3b 256x8x14x14, Mixed_3c 480x8x14x14, MaxPool_4a 480x4x7x7,
Mixed_4b..4e 512/512/512/528x4x7x7, Mixed_4f 832x4x7x7, MaxPool_5a 832x2x4x4,
Mixed_5b 832x2x4x4, Mixed_5c 1024x2x4x4.
Every down-sampling step (Conv_1a's strides, MaxPool_2a / 3a / 4a with padding, MaxPool_5a with
`ceil_mode`) maps a side n to ceil(n / 2), TensorFlow's "SAME": any input size works and a side of 7
becomes 4 at MaxPool_5a, where CoCLR's floor pooling gives 3 (MFO supp. Table 2 has 4). Only an
empty side is too small. `pool5_ceil_mode=False` is CoCLR's / ViCC's / torchvision's floor pooling
(Mixed_5b / 5c at 2x3x3 for 16x112x112), which their converted checkpoints use.

Weight names under `stages.` are CoCLR's `backbone/s3dg.py` names, so a CoCLR / ViCC state dict
converts by a prefix rename: `Conv_1a.*` -> `stages.Conv_1a.*` (ViCC: `encoder_q.0.Conv_1a.*`),
after dropping CoCLR's duplicate `block1.0.*` ... `block5.2.*` aliases of the same tensors.
- `Conv_1a`, `Conv_2c`: separable convs, `.conv1` (1xkxk spatial) `.bn1` `.conv2` (kx1x1 temporal) `.bn2`.
- `Conv_2b`: `.conv` `.bn` (1x1x1).
- `Mixed_*.branch0.0`, `.branch1.0`, `.branch2.0`, `.branch3.1`: 1x1x1 `.conv` `.bn`;
  `.branch1.1`, `.branch2.1`: separable 3x3x3 (`.conv1` `.bn1` `.conv2` `.bn2`); `.branch3.0` is
  the 3x3x3 max-pool (no weights).
- S3D-G only: `Mixed_*.gating_b0..3.fc` (Linear C->C with bias), one gate per branch output.

S3D-G gates the four branch outputs of every Mixed block (after the separable convs of branches 1
and 2 and after the 1x1x1 convs of branches 0 and 3), as CoCLR's and MIL-NCE's `s3dg.py` do;
MIL-NCE / the TensorFlow original also gate Conv_2c's output, CoCLR (our weight layout) does not.
Parameters without head: S3D 7,910,048 (docs/METHODS.md#s3d); S3D-G 9,098,000 (+1,187,952 of gates;
Conv_2c's gate would add 37,056 more).

Init: the shared kaiming fan-out init of `VsslPreTrainedModel`; CoCLR draws convs from N(0, 0.01).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..modeling_utils import VsslBackbone, VsslBackboneModel, VsslForVideoClassification
from .configuration_s3d import S3DConfig


def _batch_norm(config: S3DConfig, channels: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(channels, eps=config.bn_eps, momentum=config.bn_momentum)


class S3DBasicConv3d(nn.Module):
    """1x1x1 conv + BN + ReLU (CoCLR `BasicConv3d`)."""

    def __init__(self, config: S3DConfig, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size=1, bias=False)
        self.bn = _batch_norm(config, out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C_in, T, H, W) -> (B, C_out, T, H, W)."""
        return self.relu(self.bn(self.conv(x)))


class S3DSeparableConv3d(nn.Module):
    """(1,k,k) spatial conv + BN + ReLU, then (k,1,1) temporal conv + BN + ReLU (CoCLR `STConv3d`).

    `stride` applies to T, H and W alike: the spatial conv takes it on H, W and the temporal conv on T.
    """

    def __init__(
        self, config: S3DConfig, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1
    ) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.conv1 = nn.Conv3d(
            in_channels,
            out_channels,
            kernel_size=(1, kernel_size, kernel_size),
            stride=(1, stride, stride),
            padding=(0, padding, padding),
            bias=False,
        )
        self.bn1 = _batch_norm(config, out_channels)
        self.conv2 = nn.Conv3d(
            out_channels,
            out_channels,
            kernel_size=(kernel_size, 1, 1),
            stride=(stride, 1, 1),
            padding=(padding, 0, 0),
            bias=False,
        )
        self.bn2 = _batch_norm(config, out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C_in, T, H, W) -> (B, C_out, ceil(T/s), ceil(H/s), ceil(W/s))."""
        x = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(x)))


class S3DSelfGating(nn.Module):
    """S3D-G feature gating: x * sigmoid(fc(mean over T, H, W of x)), one gate per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T, H, W) -> same shape."""
        gates = torch.sigmoid(self.fc(x.mean(dim=(2, 3, 4))))  # (B, C)
        return x * gates[:, :, None, None, None]


class S3DMixedBlock(nn.Module):
    """Inception block with separable 3x3x3 convs: four branches concatenated on channels (CoCLR `SepInception`)."""

    def __init__(self, config: S3DConfig, in_channels: int, name: str) -> None:
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3 = config.scaled_mixed_channels(name)
        self.branch0 = nn.Sequential(S3DBasicConv3d(config, in_channels, b0))
        self.branch1 = nn.Sequential(
            S3DBasicConv3d(config, in_channels, b1a), S3DSeparableConv3d(config, b1a, b1b, kernel_size=3)
        )
        self.branch2 = nn.Sequential(
            S3DBasicConv3d(config, in_channels, b2a), S3DSeparableConv3d(config, b2a, b2b, kernel_size=3)
        )
        self.branch3 = nn.Sequential(
            nn.MaxPool3d(kernel_size=3, stride=1, padding=1), S3DBasicConv3d(config, in_channels, b3)
        )
        self.gating = config.gating
        if self.gating:
            self.gating_b0 = S3DSelfGating(b0)
            self.gating_b1 = S3DSelfGating(b1b)
            self.gating_b2 = S3DSelfGating(b2b)
            self.gating_b3 = S3DSelfGating(b3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C_in, T, H, W) -> (B, b0 + b1b + b2b + b3, T, H, W)."""
        branches = [self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)]
        if self.gating:
            gates = (self.gating_b0, self.gating_b1, self.gating_b2, self.gating_b3)
            branches = [gate(branch) for gate, branch in zip(gates, branches)]
        return torch.cat(branches, dim=1)


class S3DModel(VsslBackboneModel):
    """S3D / S3D-G feature extractor: 16 stages Conv_1a .. Mixed_5c; pooled output has 1024 x width channels."""

    config_class = S3DConfig

    def __init__(self, config: S3DConfig) -> None:
        super().__init__(config)
        channels = config.stage_channels
        # down-sampling max-pools, padded so that a side n becomes ceil(n / 2) (MaxPool_5a: floor when
        # pool5_ceil_mode is False; see the module docstring)
        pools = {
            "MaxPool_2a": nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            "MaxPool_3a": nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            "MaxPool_4a": nn.MaxPool3d(kernel_size=3, stride=2, padding=1),
            "MaxPool_5a": nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=config.pool5_ceil_mode),
        }
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels = config.in_channels
        for name in config.stage_names:
            if name == "Conv_1a":
                stage = S3DSeparableConv3d(config, in_channels, channels[name], kernel_size=7, stride=2)
            elif name == "Conv_2b":
                stage = S3DBasicConv3d(config, in_channels, channels[name])
            elif name == "Conv_2c":
                stage = S3DSeparableConv3d(config, in_channels, channels[name], kernel_size=3)
            elif name in pools:
                stage = pools[name]
            else:
                stage = S3DMixedBlock(config, in_channels, name)
            stages[name] = stage
            in_channels = channels[name]
        self.stages = nn.ModuleDict(stages)
        self.post_init()


class S3DBackbone(VsslBackbone, S3DModel):
    """S3D / S3D-G stages as an `AutoBackbone`: the feature maps of `config.out_features` (weights of `S3DModel`)."""

    config_class = S3DConfig


class S3DForVideoClassification(VsslForVideoClassification):
    """S3D / S3D-G + dropout + linear head (finetune or linear probe)."""

    config_class = S3DConfig
    backbone_class = S3DModel


__all__ = [
    "S3DBackbone",
    "S3DBasicConv3d",
    "S3DForVideoClassification",
    "S3DMixedBlock",
    "S3DModel",
    "S3DSelfGating",
    "S3DSeparableConv3d",
]
