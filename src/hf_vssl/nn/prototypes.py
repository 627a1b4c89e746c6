"""Prototypes (a bias-free D -> K layer with unit rows) and the FIFO queue of past rows used in
front of the batch in Sinkhorn. Both keep their state in the model's state dict, so a checkpoint
restores them exactly."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init

from .distributed import all_gather_no_grad, get_rank, get_world_size


class Prototypes(nn.Module):
    """scores = z @ C^T with C: (K, D), rows re-normalised to unit length after every optimizer
    step (`normalize_`). `frozen` (set by the method from its epoch schedule) makes
    `drop_grad_if_frozen` discard C's gradient before the optimizer step, as SwAV does during its
    first epochs: the scores still train the encoder, momentum and weight decay skip C."""

    def __init__(self, dim: int, num_prototypes: int) -> None:
        super().__init__()
        if dim < 1 or num_prototypes < 1:
            raise ValueError(
                f"Prototypes needs dim >= 1 and num_prototypes >= 1, got {dim}, {num_prototypes}"
            )
        self.weight = nn.Parameter(torch.empty(num_prototypes, dim))
        self.frozen = False
        self._init_vssl_weights()  # usable outside a PreTrainedModel too

    @property
    def num_prototypes(self) -> int:
        return self.weight.shape[0]

    def _init_vssl_weights(self) -> None:
        init.normal_(self.weight)
        init.copy_(self.weight, F.normalize(self.weight.detach(), dim=1))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """embeddings: (..., D) -> scores (..., K)."""
        return F.linear(embeddings, self.weight)

    @torch.no_grad()
    def normalize_(self) -> None:
        self.weight.copy_(F.normalize(self.weight, dim=1))

    def drop_grad_if_frozen(self) -> None:
        if self.frozen:
            self.weight.grad = None

    def extra_repr(self) -> str:
        return f"dim={self.weight.shape[1]}, num_prototypes={self.num_prototypes}, frozen={self.frozen}"


class EmbeddingQueue(nn.Module):
    """FIFO of the last `size` rows of the GLOBAL batch (embeddings, or scores as MFO/SDC store).

    `enqueue` gathers the rows of every process first, so the queue is identical on all processes:
    a checkpoint saved by the main process restores every process, under any world size. `get`
    returns this process's share of the filled rows (every world_size-th row), so the shares of all
    processes partition the queue and the distributed Sinkhorn counts each queued row once.
    State (persistent buffers, saved in safetensors): rows (size, dim) float32, `filled` (rows
    written so far, capped at size) and `position` (next row to overwrite).
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 0 or dim < 1:
            raise ValueError(f"EmbeddingQueue needs size >= 0 and dim >= 1, got {size}, {dim}")
        self.register_buffer("rows", torch.zeros(size, dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        self.register_buffer("position", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.rows.shape[0]

    def _init_vssl_weights(self) -> None:
        init.zeros_(self.rows)
        init.zeros_(self.filled)
        init.zeros_(self.position)

    def __len__(self) -> int:
        return int(self.filled)

    @property
    def is_full(self) -> bool:
        return self.size > 0 and int(self.filled) == self.size

    @torch.no_grad()
    def enqueue(self, rows: torch.Tensor) -> None:
        """rows: (B, dim) of this process; the global batch's rows replace the oldest ones."""
        if rows.ndim != 2 or rows.shape[1] != self.rows.shape[1]:
            raise ValueError(
                f"EmbeddingQueue of dim {self.rows.shape[1]} got rows of shape {tuple(rows.shape)}"
            )
        if self.size == 0:
            return
        incoming = all_gather_no_grad(rows).to(self.rows.dtype)[-self.size :]
        slots = (int(self.position) + torch.arange(incoming.shape[0], device=self.rows.device)) % self.size
        self.rows[slots] = incoming
        self.position.fill_((int(self.position) + incoming.shape[0]) % self.size)
        self.filled.fill_(min(self.size, int(self.filled) + incoming.shape[0]))

    def get(self) -> torch.Tensor:
        """(about filled / world_size, dim): this process's share of the queued rows, detached."""
        return self.rows[: int(self.filled)][get_rank() :: get_world_size()].detach()

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.rows.shape[1]}"
