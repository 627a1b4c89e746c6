"""Local concept matching L_loc of SDC (SDC paper Eq. 8 and table 3).

Each concept prototype acts as a template that attends once over the last stage's spatio-temporal
tokens of a clip, giving one local descriptor per concept. A concept is *valid* for a video when it
is among the top-K codes of both of its clips; valid concepts' descriptors of the same video are
pulled together and those of other videos pushed beyond a margin.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConceptAttention(nn.Module):
    """Concept templates gather the tokens that prefer them (as in the released code's integration
    transformer): tokens softmax over concepts, then each concept's weights are normalised over tokens,
    followed by a residual update and a residual MLP.

    tokens: (B, C, T, H, W); templates: (K, D) -> descriptors (B, K, D).
    """

    def __init__(self, token_dim: int, dim: int, iterations: int = 1) -> None:
        super().__init__()
        self.iterations = iterations
        self.scale = dim**-0.5
        self.norm_tokens = nn.LayerNorm(token_dim)
        self.norm_templates = nn.LayerNorm(dim)
        self.to_query = nn.Linear(dim, dim, bias=False)
        self.to_key = nn.Linear(token_dim, dim, bias=False)
        self.to_value = nn.Linear(token_dim, dim, bias=False)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim // 2), nn.ReLU(inplace=True), nn.Linear(dim // 2, dim))

    def forward(self, tokens: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
        tokens = self.norm_tokens(tokens.flatten(2).transpose(1, 2))  # (B, L, C)
        keys, values = self.to_key(tokens), self.to_value(tokens)
        descriptors = templates.unsqueeze(0).expand(tokens.shape[0], -1, -1)  # (B, K, D)
        for _ in range(self.iterations):
            queries = self.to_query(self.norm_templates(descriptors)) * self.scale
            attention = torch.einsum("bkd,bld->blk", queries, keys).softmax(dim=-1) + 1e-8
            attention = attention / attention.sum(dim=1, keepdim=True)  # over tokens
            descriptors = descriptors + torch.einsum("bld,blk->bkd", values, attention)
            descriptors = descriptors + self.mlp(self.norm_mlp(descriptors))
        return descriptors


def top_k_intersection(codes_a: torch.Tensor, codes_b: torch.Tensor, k: int) -> torch.Tensor:
    """Valid concepts: in the top-k of both codes. codes_a, codes_b: (B, K) -> (B, K) bool."""
    if codes_a.shape != codes_b.shape or not 1 <= k <= codes_a.shape[-1]:
        raise ValueError(
            f"top_k_intersection needs two codes of one shape and 1 <= k <= K, got {tuple(codes_a.shape)}, "
            f"{tuple(codes_b.shape)}, k={k}"
        )

    def top(codes: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(codes, dtype=torch.bool).scatter_(-1, codes.topk(k, dim=-1).indices, True)

    return top(codes_a) & top(codes_b)


def local_matching_loss(
    descriptors: torch.Tensor, codes: torch.Tensor, top_k: int, margin: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """L_loc over the two clips of each video, both directions.

    descriptors: (B, 2, K, D) local concept descriptors; codes: (B, 2, K) concept codes (no gradient used).
    A valid concept's descriptor in one clip is pulled to the same concept's descriptor in the other clip
    of its video (squared distance) and pushed from the other videos' (squared hinge at `margin` on the
    distance, averaged over the B - 1 other videos); the key side is detached. The sum is divided by the
    number of valid (video, concept, direction) triples + 1, as in the released code.
    Returns (loss, valid concepts per video (B,)).
    """
    batch = descriptors.shape[0]
    descriptors = F.normalize(descriptors.float(), dim=-1)
    valid = top_k_intersection(codes[:, 0].detach(), codes[:, 1].detach(), top_k)  # (B, K), symmetric
    other_video = ~torch.eye(batch, dtype=torch.bool, device=descriptors.device)
    total = descriptors.new_zeros(())
    for query, key in ((0, 1), (1, 0)):
        cosine = torch.einsum("bkd,pkd->bpk", descriptors[:, query], descriptors[:, key].detach())
        distance = (2 - 2 * cosine + 1e-5).sqrt()  # (B, B, K)
        positive = distance.diagonal(dim1=0, dim2=1).T.pow(2) * valid  # (B, K)
        negative = F.relu(margin - distance).pow(2) * (other_video[:, :, None] & valid[:, None, :])
        total = total + positive.sum() + negative.sum() / max(batch - 1, 1)
    loss = total / (2 * valid.sum() + 1)
    return loss, valid.sum(dim=1).float()
