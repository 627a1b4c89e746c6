"""Nearest-neighbour video retrieval (the protocol every paper reports, docs/METHODS.md#downstream-protocols).

No training: each video's pooled clip features are averaged, each set is mean-centred and
L2-normalised (as CoCLR / ViCC's evaluation code does), test videos query the training videos by
cosine similarity, and R@k counts a query as a hit when any of its k nearest training videos has
the query's class.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .features import ClipOutputs

RECALL_KS = (1, 5, 10, 20, 50)  # MFO, SDC, Pace Prediction and ViCC supp. retrieval tables


logger = logging.getLogger(__name__)


def prepare_retrieval_features(features: np.ndarray) -> np.ndarray:
    """Mean-centre then L2-normalise video features: (N, D) -> (N, D)."""
    if features.ndim != 2:
        raise ValueError(f"retrieval features must be (num_videos, dim), got shape {features.shape}")
    centred = features - features.mean(axis=0, keepdims=True)
    return centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)


def retrieval_recall(
    query_features: np.ndarray,
    query_labels: np.ndarray,
    gallery_features: np.ndarray,
    gallery_labels: np.ndarray,
    ks: Sequence[int] = RECALL_KS,
    *,
    prepare: bool = True,
) -> dict[str, float]:
    """{"R@k": fraction of queries with a same-class video among their k nearest gallery videos}.

    query_features: (Q, D), gallery_features: (G, D); with `prepare` each set is centred and
    normalised first (`prepare_retrieval_features`). A k larger than the gallery is clamped to G.
    """
    query_labels, gallery_labels = np.asarray(query_labels), np.asarray(gallery_labels)
    if len(query_features) != len(query_labels) or len(gallery_features) != len(gallery_labels):
        raise ValueError(
            f"features and labels differ in length: queries {len(query_features)} vs {len(query_labels)}, "
            f"gallery {len(gallery_features)} vs {len(gallery_labels)}"
        )
    if query_features.shape[1:] != gallery_features.shape[1:]:
        raise ValueError(f"query and gallery dims differ: {query_features.shape} vs {gallery_features.shape}")
    if len(gallery_labels) == 0 or len(query_labels) == 0:
        raise ValueError("retrieval needs at least one query and one gallery video")
    if prepare:
        query_features = prepare_retrieval_features(query_features)
        gallery_features = prepare_retrieval_features(gallery_features)
    return similarity_recall(query_features @ gallery_features.T, query_labels, gallery_labels, ks)


def similarity_recall(
    similarity: np.ndarray,
    query_labels: np.ndarray,
    gallery_labels: np.ndarray,
    ks: Sequence[int] = RECALL_KS,
) -> dict[str, float]:
    """R@k from a (Q, G) query-gallery similarity: a query hits when one of its k most similar
    gallery videos has its class (k clamped to G)."""
    query_labels, gallery_labels = np.asarray(query_labels), np.asarray(gallery_labels)
    if similarity.shape != (len(query_labels), len(gallery_labels)):
        raise ValueError(
            f"similarity must be (queries, gallery) = ({len(query_labels)}, {len(gallery_labels)}), "
            f"got {similarity.shape}"
        )
    # stable sort on -similarity: ties keep gallery order, so results are deterministic
    ranking = np.argsort(-similarity, axis=1, kind="stable")
    hits = gallery_labels[ranking] == query_labels[:, None]  # (Q, G)
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1), len(gallery_labels))  # rank of the first hit
    return {f"R@{k}": float((first_hit < min(k, len(gallery_labels))).mean()) for k in ks}


def evaluate_retrieval(
    gallery: ClipOutputs, queries: ClipOutputs, ks: Sequence[int] = RECALL_KS
) -> dict[str, float]:
    """R@k of `queries` (test videos) against `gallery` (training videos), from their clip features
    averaged per video."""
    if max(ks) > gallery.num_videos:
        logger.warning(
            "retrieval: the gallery has %d videos, fewer than the largest k (%d); R@k for k >= %d is 1 "
            "whenever a query's class is in the gallery",
            gallery.num_videos,
            max(ks),
            gallery.num_videos,
        )
    return retrieval_recall(
        queries.video_means().numpy(),
        queries.labels.numpy(),
        gallery.video_means().numpy(),
        gallery.labels.numpy(),
        ks,
    )
