"""Video-level classification accuracy under the multi-clip test protocol
(docs/METHODS.md#downstream-protocols).

Every test video is cut into several clips (10 uniform clips, or ViCC's dense windows x crops);
the classifier's softmax is averaged over a video's clips and the video is scored top-1 / top-5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def average_clip_probabilities(
    clip_logits: torch.Tensor, video_index: torch.Tensor, num_videos: int
) -> torch.Tensor:
    """Softmax of clip_logits: (N_clips, K) averaged per video -> (num_videos, K).

    video_index: (N_clips,) the video each clip belongs to; every video needs at least one clip.
    """
    probs = clip_logits.float().softmax(dim=1)
    sums = torch.zeros(num_videos, probs.shape[1], dtype=probs.dtype).index_add_(0, video_index, probs)
    counts = torch.bincount(video_index, minlength=num_videos)
    if (counts == 0).any():
        missing = torch.nonzero(counts == 0).flatten()[:5].tolist()
        raise ValueError(f"videos without clips (first: {missing}); every video needs at least one clip")
    return sums / counts[:, None]


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """{"top1": ..., "top5": ...}: fraction of rows of scores: (N, K) whose label is among their k best.

    A k above the number of classes is clamped to K (so top-5 over 3 classes is 1).
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(
            f"scores must be (N, num_classes) with N = len(labels), got {scores.shape}, {labels.shape}"
        )
    if len(labels) == 0:
        raise ValueError("accuracy needs at least one sample")
    order = np.argsort(-scores, axis=1, kind="stable")
    rank = (order == labels[:, None]).argmax(axis=1)  # position of the true class
    return {f"top{k}": float((rank < min(k, scores.shape[1])).mean()) for k in ks}
