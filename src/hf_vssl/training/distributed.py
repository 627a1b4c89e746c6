"""Batch norm over the global batch under several processes, on GPUs and on CPUs (gloo), and what
a run does when one of its processes dies (`lost_process_guard`).

On accelerators torch's `nn.SyncBatchNorm` does it. On CPU torch refuses it (both the layer and DDP
reject CPU SyncBatchNorm), so a multi-process CPU run would normalise each process's part of the
batch on its own and no longer compute the global batch's loss. `CpuSyncBatchNorm` all-reduces the
per-channel sums with a gradient-carrying all-gather, so gradients flow through the global
statistics as in torch's CUDA kernel.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ..nn.distributed import all_gather_with_grad, is_distributed
from .checkpointing import list_checkpoints
from .interrupts import resume_command

# what gloo and NCCL say when a peer process is gone or stopped answering (torch raises a plain
# RuntimeError for some of them, `torch.distributed.DistError` for others)
LOST_PEER_MARKERS = (
    "timeout caused pair closure",
    "Connection reset by peer",
    "Connection closed by peer",
    "Broken pipe",
    "Timed out",
    "timed out",
    "NCCL",
)


class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm{1,2,3}d whose training statistics are those of the batch of all processes."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected an input of at least 2 dimensions (N, C, ...), got {input.ndim}")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(input)
        self._check_input_dim(input)
        channels = input.shape[1]
        dims = [0, *range(2, input.ndim)]
        # [sum, sum of squares, count] per channel: (2C + 1,) summed over processes, in float64
        count = torch.tensor([input.numel() / channels], dtype=torch.float64, device=input.device)
        stats = torch.cat([input.double().sum(dims), input.double().square().sum(dims), count])
        stats = all_gather_with_grad(stats[None]).sum(0)
        total = stats[-1]
        mean = stats[:channels] / total
        var = (stats[channels : 2 * channels] / total - mean.square()).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (
                    self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                )
                unbiased = var * total / (total - 1).clamp_min(1)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        shape = (1, channels) + (1,) * (input.ndim - 2)
        scale = torch.rsqrt(var.to(input.dtype) + self.eps)
        out = (input - mean.to(input.dtype).view(shape)) * scale.view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of `module` synchronised across processes: torch's SyncBatchNorm on
    accelerators, `CpuSyncBatchNorm` on CPU. Weights, statistics and frozen flags are kept."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CpuSyncBatchNorm):
        synced = CpuSyncBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        if module.affine:
            synced.weight, synced.bias = module.weight, module.bias
        if module.track_running_stats:
            synced.running_mean, synced.running_var = module.running_mean, module.running_var
            synced.num_batches_tracked = module.num_batches_tracked
        synced.train(module.training)
        return synced
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child, device))
    return module


def check_process_count(num_processes: int, environ: Mapping[str, str] = os.environ) -> None:
    """Refuse to train in one process when `accelerate launch --num_processes N` asked for more.

    Without GPUs (or with `--cpu`) and without `--multi_gpu`, accelerate's simple launcher starts a
    single process; it still exports MASTER_PORT for the N processes it was asked for, but no
    WORLD_SIZE. `--multi_gpu` goes through torchrun, which starts N processes (a gloo group on CPU).
    """
    launched_by_accelerate = "ACCELERATE_MIXED_PRECISION" in environ
    asked_several = "MASTER_PORT" in environ and "WORLD_SIZE" not in environ
    if num_processes == 1 and launched_by_accelerate and asked_several:
        raise ValueError(
            "accelerate launch asked for several processes but started one (its --cpu / no-GPU launcher "
            "runs a single process): launch with `accelerate launch --multi_gpu --num_processes N` "
            "and without --cpu; on a CPU-only machine the processes then form a gloo group"
        )


class ProcessGroupLost(RuntimeError):
    """A process of a multi-process run died or stopped answering for `ddp_timeout` seconds."""


@contextmanager
def lost_process_guard(output_dir: Path) -> Iterator[None]:
    """Turn the error a collective raises when a peer process is gone into one line: the lost rank,
    the checkpoint kept and the command that resumes the run. Without it a surviving process fails
    with gloo's socket error (or, on a peer that hangs, waits for the collective timeout)."""
    try:
        yield
    except RuntimeError as err:
        if not (is_distributed() and _names_a_lost_peer(err)):
            raise
        checkpoints = list_checkpoints(output_dir)
        kept = f"checkpoint {checkpoints[-1]} is kept" if checkpoints else "no checkpoint was written yet"
        world = dist.get_world_size()
        raise ProcessGroupLost(
            f"process group lost {_lost_rank(dist.get_rank(), world)} ({' '.join(str(err).split())[:300]}); "
            f"{kept}; resume with: {resume_command(num_processes=world)}"
        ) from err


def _names_a_lost_peer(err: RuntimeError) -> bool:
    return isinstance(err, dist.DistError) or any(marker in str(err) for marker in LOST_PEER_MARKERS)


def _lost_rank(rank: int, world: int) -> str:
    """Which rank was lost, as far as one survivor can tell: with two processes, the other one."""
    if world == 2:
        return f"rank {1 - rank}"
    return (
        f"one of ranks {', '.join(str(r) for r in range(world) if r != rank)} (a survivor cannot tell which)"
    )
