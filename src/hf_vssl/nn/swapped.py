"""Swapped prediction (SwAV; docs/METHODS.md#swapped-prediction): each view's Sinkhorn assignment is
predicted from the other views' prototype scores."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .sinkhorn import sinkhorn_knopp


@torch.no_grad()
def sinkhorn_targets(
    scores: Sequence[torch.Tensor],
    epsilon: float = 0.05,
    num_iters: int = 3,
    queued: Sequence[torch.Tensor | None] | None = None,
) -> list[torch.Tensor]:
    """Assignments Q_i = Sinkhorn(scores_i) of each view: scores[i]: (B, K) of this process;
    queued[i]: (Q, K) scores of past rows (e.g. queued embeddings scored by the current prototypes)
    or None. Queued rows are prepended before Sinkhorn, so they count in the balance, but only the
    current batch's rows come back: a list of (B, K) float32 targets."""
    if queued is not None and len(queued) != len(scores):
        raise ValueError(f"queued must have one entry per view ({len(scores)}), got {len(queued)}")
    targets = []
    for index, view_scores in enumerate(scores):
        past = None if queued is None else queued[index]
        rows = (
            view_scores.detach()
            if past is None
            else torch.cat([past.to(view_scores.dtype), view_scores.detach()])
        )
        targets.append(sinkhorn_knopp(rows, epsilon, num_iters)[-view_scores.shape[0] :])
    return targets


def swapped_prediction_loss(
    scores: Sequence[torch.Tensor],
    targets: Sequence[torch.Tensor | None],
    temperature: float = 0.1,
) -> torch.Tensor:
    """Mean over the views i with a target of the mean over the other views v of
    mean_batch[-sum_k Q_i[k] * log_softmax(scores_v / tau)[k]].

    scores: V tensors (..., K) (e.g. (B, K)); targets: V entries, Q_i (..., K) or None for a view
    that is predicted from but not assigned (SwAV's crops_for_assign). ViCC supp.'s cross-stream
    loss is this with four views, all assigned.
    """
    if len(scores) != len(targets) or len(scores) < 2:
        raise ValueError(
            f"need >= 2 views and one target entry per view, got {len(scores)} and {len(targets)}"
        )
    assigned = [i for i, target in enumerate(targets) if target is not None]
    if not assigned:
        raise ValueError("swapped_prediction_loss needs at least one view with a target")
    with torch.autocast(device_type=scores[0].device.type, enabled=False):
        log_probs = [(s.float() / temperature).log_softmax(dim=-1) for s in scores]
        per_view = []
        for i in assigned:
            target = targets[i].float()
            others = [-(target * log_probs[v]).sum(dim=-1).mean() for v in range(len(scores)) if v != i]
            per_view.append(torch.stack(others).mean())
        return torch.stack(per_view).mean()
