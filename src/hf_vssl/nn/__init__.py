"""Building blocks shared by the pretext methods: collectives, Sinkhorn, InfoNCE, prototypes,
queue and swapped prediction. One implementation each."""

from .contrastive import global_info_nce, group_info_nce, info_nce_loss
from .distributed import (
    all_gather_no_grad,
    all_gather_with_grad,
    all_reduce_max_,
    all_reduce_sum_,
    batch_shuffle,
    batch_unshuffle,
    get_rank,
    get_world_size,
    is_distributed,
)
from .prototypes import EmbeddingQueue, Prototypes
from .sinkhorn import sinkhorn_knopp
from .swapped import sinkhorn_targets, swapped_prediction_loss

__all__ = [
    "EmbeddingQueue",
    "Prototypes",
    "all_gather_no_grad",
    "all_gather_with_grad",
    "all_reduce_max_",
    "all_reduce_sum_",
    "batch_shuffle",
    "batch_unshuffle",
    "get_rank",
    "get_world_size",
    "global_info_nce",
    "group_info_nce",
    "info_nce_loss",
    "is_distributed",
    "sinkhorn_knopp",
    "sinkhorn_targets",
    "swapped_prediction_loss",
]
