"""SDC's heads around the concept codes (Qian et al., ECCV 2022): the feature transformations sigma, the code
decoders g and the entropy term.

A concept code is the vector of cosine scores between a view's transformed, L2-normalised feature
and the concept prototypes; static concepts should explain clips and static frames, dynamic ones
clips and frame differences.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

TransformHead = Literal["identity", "linear", "mlp"]
TRANSFORM_HEADS = typing.get_args(TransformHead)


def transform_head(kind: str, dim: int) -> nn.Module:
    """sigma of SDC supp. Table 1: identity (512-512), linear (512-512) or MLP (512-512-512)."""
    if kind == "identity":
        return nn.Identity()
    if kind == "linear":
        return nn.Linear(dim, dim)
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(dim, dim), nn.BatchNorm1d(dim), nn.ReLU(inplace=True), nn.Linear(dim, dim)
        )
    raise ValueError(f"unknown transformation head '{kind}'; choose from {TRANSFORM_HEADS}")


def code_decoder(in_dim: int, hidden_dims: Sequence[int], out_dim: int) -> nn.Sequential:
    """g of SDC supp. Table 2: codes (.., in_dim) -> feature (.., out_dim); no hidden layer is the linear
    decoder (100-512), hidden [128] / [512] the MLPs (100-128-512, 100-512-512). BN + ReLU after each
    hidden layer, as in the released code."""
    layers: list[nn.Module] = []
    width = in_dim
    for hidden in hidden_dims:
        layers += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def negative_entropy(scores: torch.Tensor, temperature: float) -> torch.Tensor:
    """mean_i sum_k p_ik log p_ik with p = softmax(scores / tau): minimising it makes the codes uniform.

    scores: (N, K). Used on the static codes of difference views and the dynamic codes of static views,
    which should carry no preference for any concept.
    """
    log_p = (scores.float() / temperature).log_softmax(dim=-1)
    return (log_p.exp() * log_p).sum(dim=-1).mean()
