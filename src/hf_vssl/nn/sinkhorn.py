"""Sinkhorn-Knopp (SwAV style), distributed over processes as in the original.

The formula (docs/METHODS.md#sinkhorn-knopp): Q = exp(S / eps) transposed to K x N, divided by
its global total; `num_iters` times: each row divided by its global row sum and by K, each column
divided by its (local) column sum and by N; finally Q * N, transposed back to N x K.
N is the global number of rows (every process's batch plus queue rows). Only the total and the row
sums are all-reduced: a column is one sample, and all of a sample's entries live on one process.

Computed in the log domain: every normalisation subtracts a log-sum-exp that starts from the
(global) max, so exp never overflows, and unlike a single max subtraction no row or column can
underflow to all zeros (0 / 0) when S / eps spans hundreds of units. The result is the same Q.
"""

from __future__ import annotations

import math

import torch

from .distributed import all_reduce_max_, all_reduce_sum_


def _global_logsumexp(log_q: torch.Tensor, dim: int | None) -> torch.Tensor:
    """log of the sum over `dim` (None: everything) of exp(log_q), summed over processes too."""
    peak = log_q.amax() if dim is None else log_q.amax(dim=dim, keepdim=True)
    all_reduce_max_(peak)
    total = (
        torch.exp(log_q - peak).sum() if dim is None else torch.exp(log_q - peak).sum(dim=dim, keepdim=True)
    )
    return peak + torch.log(all_reduce_sum_(total))


@torch.no_grad()
def sinkhorn_knopp(scores: torch.Tensor, epsilon: float = 0.05, num_iters: int = 3) -> torch.Tensor:
    """Balanced soft assignments of this process's rows.

    scores: (N_local, K) prototype scores (queue rows included, if any); every process calls this
    together with its own rows. Returns (N_local, K) float32 (float64 for float64 input): each row
    sums to 1 and over the global N rows each prototype receives about N / K of the mass.
    """
    if scores.ndim != 2:
        raise ValueError(f"sinkhorn_knopp expects scores of shape (N, K), got {tuple(scores.shape)}")
    if epsilon <= 0 or num_iters < 1:
        raise ValueError(f"sinkhorn_knopp needs epsilon > 0 and num_iters >= 1, got {epsilon}, {num_iters}")
    dtype = torch.float64 if scores.dtype == torch.float64 else torch.float32
    log_q = (scores.to(dtype) / epsilon).t()  # (K, N_local)
    num_prototypes = log_q.shape[0]
    num_rows = float(all_reduce_sum_(torch.tensor(float(log_q.shape[1]), dtype=dtype, device=log_q.device)))
    log_q = log_q - _global_logsumexp(log_q, dim=None)  # Q /= sum(Q)
    for _ in range(num_iters):
        log_q = log_q - _global_logsumexp(log_q, dim=1) - math.log(num_prototypes)  # rows: global sums
        log_q = log_q - torch.logsumexp(log_q, dim=0, keepdim=True) - math.log(num_rows)  # columns: local
    return torch.exp(log_q + math.log(num_rows)).t().contiguous()
