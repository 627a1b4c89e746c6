"""The instance graph G_ins of MFO (Qian et al., ICCV 2021) and the graph-guided loss L_mul that uses it.

High-level features give a reliable view of which clips belong together (instance similarity E,
shared prototypes); low- and mid-level features cannot tell that on their own, so their contrast
uses this graph as soft targets instead of the one-hot identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def instance_graph(similarity: torch.Tensor, assignments: torch.Tensor, threshold: float) -> torch.Tensor:
    """G_ins from E and the prototype assignments, as the released MFO code builds it.

    similarity: (N, N) E = row-softmax(z0 z1^T / tau) of the global batch (clip 0 rows, clip 1 columns).
    assignments: (N,) arg-max prototype of each video.
    Entries of E below `threshold` (eta) are zeroed except the diagonal, pairs of videos with different
    prototypes are zeroed (the semantic mask S), and every row is renormalised to sum to 1.
    Returns (N, N), no gradient.
    """
    num = similarity.shape[0]
    if similarity.shape != (num, num) or assignments.shape != (num,):
        raise ValueError(
            f"instance_graph expects similarity (N, N) and assignments (N,), got {tuple(similarity.shape)} "
            f"and {tuple(assignments.shape)}"
        )
    similarity = similarity.detach()
    diagonal = torch.eye(num, dtype=torch.bool, device=similarity.device)
    kept = torch.where((similarity >= threshold) | diagonal, similarity, torch.zeros_like(similarity))
    same_prototype = assignments[:, None] == assignments[None, :]
    graph = kept * same_prototype
    # the diagonal of a softmax is > 0, so a row only sums to 0 if it underflowed: keep it all-zero
    return graph / graph.sum(dim=1, keepdim=True).clamp_min(torch.finfo(graph.dtype).tiny)


def graph_contrast_loss(
    anchors: torch.Tensor, candidates: torch.Tensor, graph: torch.Tensor, temperature: float
) -> torch.Tensor:
    """L_mul on one level: mean_ij [ -G_ij log softmax_j(f0_i . f1_j / tau) ].

    anchors: (b, D) clip-0 embeddings of this process; candidates: (N, D) clip-1 embeddings of the global
    batch; graph: (b, N) this process's rows of G_ins. Embeddings are L2-normalised here.
    """
    if graph.shape != (anchors.shape[0], candidates.shape[0]):
        raise ValueError(
            f"graph rows {tuple(graph.shape)} do not match anchors {tuple(anchors.shape)} x candidates "
            f"{tuple(candidates.shape)}"
        )
    logits = F.normalize(anchors, dim=1) @ F.normalize(candidates, dim=1).T / temperature
    return -(graph * logits.float().log_softmax(dim=1)).mean()
