"""InfoNCE / NT-Xent with one or several positives per anchor, over the global batch.

Embeddings are L2-normalised here (idempotent for callers that already did), logits are cosine
similarities / temperature, computed in float32 outside autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .distributed import all_gather_no_grad, all_gather_with_grad, get_rank


def info_nce_loss(
    anchors: torch.Tensor,
    candidates: torch.Tensor,
    positive_mask: torch.Tensor,
    temperature: float,
    extra_negatives: torch.Tensor | None = None,
    ignore_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-positive InfoNCE: mean over anchors of the mean over its positives p of
    -log(exp(s_ap / tau) / sum_c exp(s_ac / tau)), c running over every candidate not ignored and
    every extra negative (other positives stay in the denominator, as in Pace Prediction supp. Algorithm 2).

    anchors: (N, D); candidates: (M, D); positive_mask: (N, M) bool.
    extra_negatives: (E, D) shared by all anchors, or (N, E, D) per anchor.
    ignore_mask: (N, M) bool, pairs left out entirely (e.g. an anchor against itself when the
    anchors are among the candidates). Anchors without a positive do not count; with none at all
    the loss is 0 (still attached to the graph).
    """
    num_anchors, num_candidates = anchors.shape[0], candidates.shape[0]
    if positive_mask.shape != (num_anchors, num_candidates):
        raise ValueError(
            f"positive_mask must be (anchors, candidates) = {(num_anchors, num_candidates)}, "
            f"got {tuple(positive_mask.shape)}"
        )
    with torch.autocast(device_type=anchors.device.type, enabled=False):
        a = F.normalize(anchors.float(), dim=-1)
        logits = a @ F.normalize(candidates.float(), dim=-1).T / temperature  # (N, M)
        if ignore_mask is not None:
            logits = logits.masked_fill(ignore_mask, float("-inf"))
        positives = positive_mask.to(torch.bool)
        if extra_negatives is not None:
            negatives = F.normalize(extra_negatives.float(), dim=-1)
            if negatives.ndim == 2:
                extra = a @ negatives.T
            elif negatives.ndim == 3 and negatives.shape[0] == num_anchors:
                extra = torch.einsum("nd,ned->ne", a, negatives)
            else:
                raise ValueError(
                    f"extra_negatives must be (E, D) or (anchors={num_anchors}, E, D), got {tuple(negatives.shape)}"
                )
            logits = torch.cat([logits, extra / temperature], dim=1)
            positives = F.pad(positives, (0, extra.shape[1]), value=False)
        log_prob = logits.log_softmax(dim=1)
        counts = positives.sum(dim=1)
        per_anchor = -(log_prob.masked_fill(~positives, 0.0)).sum(dim=1) / counts.clamp_min(1)
        valid = counts > 0
        return per_anchor[valid].mean() if valid.any() else log_prob.sum() * 0.0


def global_info_nce(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    temperature: float,
    extra_negatives: torch.Tensor | None = None,
    detach_candidates: bool = False,
) -> torch.Tensor:
    """One-directional InfoNCE a -> b over the global batch: anchor i of this process (z_a: (B, D))
    has z_b's row i of the same process as its positive and every other process's and sample's z_b
    row (gathered with gradient) as negatives. Symmetrise by averaging with (z_b, z_a).
    `detach_candidates`: z_b is a constant key (no gradient), as SDC's released `contrast`."""
    if z_a.shape != z_b.shape:
        raise ValueError(
            f"z_a and z_b must have the same shape (B, D), got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    candidates = (all_gather_no_grad if detach_candidates else all_gather_with_grad)(z_b)  # (world * B, D)
    batch = z_a.shape[0]
    own = get_rank() * batch + torch.arange(batch, device=z_a.device)
    positives = torch.zeros(batch, candidates.shape[0], dtype=torch.bool, device=z_a.device)
    positives[torch.arange(batch, device=z_a.device), own] = True
    return info_nce_loss(z_a, candidates, positives, temperature, extra_negatives=extra_negatives)


def group_info_nce(
    embeddings: torch.Tensor,
    groups: torch.Tensor,
    temperature: float,
    extra_negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-positive InfoNCE over the global batch where rows sharing a group id are positives:
    embeddings: (M, D) of this process, groups: (M,) int ids, comparable across processes (e.g. a
    global video index, or a pace label). Candidates are every process's rows (gathered with
    gradient); an anchor's own row is left out of the denominator; anchors alone in their group do
    not count. This is Pace Prediction supp. Algorithm 1 (groups = videos) and 2 (groups = paces), and the
    clip contrast of MFO / SDC (groups = videos)."""
    if groups.shape != embeddings.shape[:1]:
        raise ValueError(f"groups must be (M,) for embeddings (M, D), got {tuple(groups.shape)}")
    candidates = all_gather_with_grad(embeddings)
    candidate_groups = all_gather_no_grad(groups)
    rows = torch.arange(embeddings.shape[0], device=embeddings.device)
    own = torch.zeros(embeddings.shape[0], candidates.shape[0], dtype=torch.bool, device=embeddings.device)
    own[rows, get_rank() * embeddings.shape[0] + rows] = True
    positives = (groups[:, None] == candidate_groups[None, :]) & ~own
    return info_nce_loss(
        embeddings, candidates, positives, temperature, extra_negatives=extra_negatives, ignore_mask=own
    )
