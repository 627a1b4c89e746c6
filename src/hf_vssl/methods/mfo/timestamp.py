"""Timestamp retrieval L_ret of MFO (Qian et al., ICCV 2021): find where each moment of the short clips sits
in the overview clip, and the reverse.

Clip 0 and clip 1 are the first and last 16 of 32 consecutive frames; the overview clip is every
second frame of the same 32. On a level with t time steps, each short clip is pooled to t/2 steps and
the two are concatenated, so step k of the result covers the same frames as step k of the overview.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def check_time_steps(steps: int) -> None:
    """Each short clip is pooled to steps / 2: a level needs an even number >= 2 of time steps."""
    if steps < 2 or steps % 2:
        raise ValueError(
            f"timestamp retrieval needs an even number >= 2 of time steps on every level, got {steps}; "
            "use 16-frame clips (t = 8 low, 4 mid, 2 high) or switch it off with use_ret_loss=False"
        )


def timestamp_retrieval_logits(
    short_clips: torch.Tensor, overview: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine logits between the time steps of the short clips and of the overview clip.

    short_clips: (B, 2, D, t) clip 0 and clip 1 features per time step; overview: (B, D, t).
    Returns (short_to_overview, overview_to_short), each (B, t, t) with the target on the diagonal.
    """
    batch, num_clips, dim, steps = short_clips.shape
    if num_clips != 2 or overview.shape != (batch, dim, steps):
        raise ValueError(
            f"timestamp retrieval expects short clips (B, 2, D, t) and overview (B, D, t), got "
            f"{tuple(short_clips.shape)} and {tuple(overview.shape)}"
        )
    check_time_steps(steps)
    halves = F.adaptive_avg_pool1d(short_clips.flatten(0, 1), steps // 2).view(batch, 2, dim, steps // 2)
    concatenated = F.normalize(torch.cat([halves[:, 0], halves[:, 1]], dim=-1), dim=1)  # (B, D, t)
    overview = F.normalize(overview, dim=1)
    short_to_overview = torch.einsum("bcm,bcn->bmn", concatenated, overview) / temperature
    return short_to_overview, short_to_overview.transpose(1, 2)


def timestamp_retrieval_loss(
    short_clips: torch.Tensor, overview: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy over time indices in both directions (mean of the two) and the retrieval accuracy."""
    logits = timestamp_retrieval_logits(short_clips, overview, temperature)
    batch, steps = logits[0].shape[:2]
    targets = torch.arange(steps, device=overview.device).repeat(batch)  # step k matches step k
    loss = sum(F.cross_entropy(x.reshape(batch * steps, steps).float(), targets) for x in logits) / 2
    with torch.no_grad():
        accuracy = sum((x.argmax(dim=-1).flatten() == targets).float().mean() for x in logits) / 2
    return loss, accuracy
