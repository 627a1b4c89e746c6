"""Collectives that are safe alone: every function is the identity / a no-op without a process group.

Tensors gathered across processes must have the same shape on every process (the training loop
drops the last incomplete batch). Gathers concatenate over dim 0 in rank order, so row
`rank * B + i` of a gathered tensor is row `i` of process `rank`.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True when a process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _gather(tensor: torch.Tensor) -> torch.Tensor:
    parts = [torch.empty_like(tensor) for _ in range(get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


class _AllGatherWithGrad(torch.autograd.Function):
    """Forward: concatenation of every process's tensor. Backward: every process's loss depends on
    every slice, so the incoming gradients are summed over processes (all-reduce) and each process
    keeps the rows of its own slice. With DDP's gradient averaging this is the gradient of the mean
    of the per-process losses, the same as one process holding the whole batch."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.local_rows = tensor.shape[0]
        return _gather(tensor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = get_rank() * ctx.local_rows
        return grad[start : start + ctx.local_rows]


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """(B, ...) on each process -> (world * B, ...) in rank order; the gradient reaches the local slice."""
    if not is_distributed():
        return tensor
    return _AllGatherWithGrad.apply(tensor)


@torch.no_grad()
def all_gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """(B, ...) on each process -> (world * B, ...) in rank order, detached."""
    if not is_distributed():
        return tensor.detach()
    return _gather(tensor.detach())


def all_reduce_sum_(tensor: torch.Tensor) -> torch.Tensor:
    """In-place sum over processes (a no-op alone); returns `tensor`."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max_(tensor: torch.Tensor) -> torch.Tensor:
    """In-place element-wise max over processes (a no-op alone); returns `tensor`."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


@torch.no_grad()
def batch_shuffle(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """MoCo's batch shuffle: a random permutation of the global batch, so that the BatchNorm
    statistics of a process come from other processes' samples (no intra-batch leakage without
    SyncBN). Returns this process's shuffled rows and the global inverse permutation for
    `batch_unshuffle`. Alone it returns the input and the identity."""
    if not is_distributed():
        return tensor, torch.arange(tensor.shape[0], device=tensor.device)
    gathered = _gather(tensor)
    permutation = torch.randperm(gathered.shape[0], device=tensor.device)
    dist.broadcast(permutation, src=0)  # every process must use the same permutation
    mine = permutation.view(get_world_size(), -1)[get_rank()]
    return gathered[mine], torch.argsort(permutation)


@torch.no_grad()
def batch_unshuffle(tensor: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """Undo `batch_shuffle` on its (no-grad) outputs: this process's rows in the original order."""
    if not is_distributed():
        return tensor
    gathered = _gather(tensor)
    return gathered[inverse.view(get_world_size(), -1)[get_rank()]]
