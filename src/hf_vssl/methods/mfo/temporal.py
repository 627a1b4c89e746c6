"""Temporal modelling on MFO's low- and mid-level features (MFO supp. §2, "temporal modeling module").

`MotionExcitation` makes a level's embedding depend on the order of its time steps (frame-to-frame
feature differences gate the channels), which is what lets the time-reversed and shuffled copies
made by `temporal_transform` act as negatives (L_aug): after plain temporal pooling they would be
identical to the original.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TEMPORAL_TRANSFORMS = ("reverse", "shuffle")


def temporal_transform(features: torch.Tensor, kind: str) -> torch.Tensor:
    """A temporally transformed copy of features: (B, C, T, H, W), same shape.

    "reverse" flips time; "shuffle" applies a random non-identity permutation of the T steps per sample.
    """
    if kind == "reverse":
        return features.flip(2)
    if kind == "shuffle":
        batch, steps = features.shape[0], features.shape[2]
        order = torch.rand(batch, steps, device=features.device).argsort(dim=1)
        # a permutation that happens to be the identity is no negative: rotate it by one step
        identity = (order == torch.arange(steps, device=features.device)).all(dim=1, keepdim=True)
        order = torch.where(identity, order.roll(1, dims=1), order)
        index = order[:, None, :, None, None].expand(-1, *features.shape[1:2], -1, *features.shape[3:])
        return features.gather(2, index)
    raise ValueError(f"unknown temporal transform '{kind}'; choose from {TEMPORAL_TRANSFORMS}")


class MotionExcitation(nn.Module):
    """Channel gating from feature differences of adjacent time steps, as in the released MFO code.

    x: (B, C, T, H, W) -> (B, C, T, H, W): x + x * (sigmoid(BN(expand(pool(shift(squeeze(x)))))) - 0.5),
    where shift is conv(x_{t+1}) - x_t (zero at the last step).
    """

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        reduced = max(1, channels // reduction)
        self.squeeze = nn.Conv3d(channels, reduced, kernel_size=1, bias=False)
        self.squeeze_bn = nn.BatchNorm3d(reduced)
        self.shift = nn.Conv3d(
            reduced, reduced, kernel_size=(1, 3, 3), padding=(0, 1, 1), groups=reduced, bias=False
        )
        self.expand = nn.Conv3d(reduced, channels, kernel_size=1, bias=False)
        self.expand_bn = nn.BatchNorm3d(channels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        squeezed = self.squeeze_bn(self.squeeze(features))
        motion = self.shift(squeezed)[:, :, 1:] - squeezed[:, :, :-1]  # (B, C/r, T-1, H, W)
        motion = F.pad(motion, (0, 0, 0, 0, 0, 1))
        gate = self.expand_bn(self.expand(motion.mean(dim=(3, 4), keepdim=True))).sigmoid() - 0.5
        return features + gate * features
