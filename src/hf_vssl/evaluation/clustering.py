"""Cluster evaluation of hard assignments against labels (ViCC supp. Table 1).

The five measures of ViCC's prototype study, defined as in Asano et al. (SeLa, ICLR 2020) which the
the paper cites: accuracy after Hungarian matching of clusters to classes, NMI, ARI, the mean over
clusters of the entropy of the class distribution inside the cluster (nats; 0 is optimal) and the
mean over clusters of the largest class fraction inside the cluster (max purity). Clusters that
received no sample do not enter the per-cluster means.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

CLUSTER_METRIC_NAMES = ("acc", "nmi", "ari", "entropy", "max_purity")


def contingency_matrix(assignments: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """counts: (num_clusters, num_classes), counts[c, y] = samples of class y assigned to cluster c."""
    assignments, labels = _check_pair(assignments, labels)
    num_clusters, num_classes = int(assignments.max()) + 1, int(labels.max()) + 1
    counts = np.zeros((num_clusters, num_classes), dtype=np.int64)
    np.add.at(counts, (assignments, labels), 1)
    return counts


def hungarian_accuracy(assignments: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy under the one-to-one cluster -> class matching that maximises it.

    With more clusters than classes (e.g. 300 prototypes for 101 classes) the unmatched clusters'
    samples count as errors, as in the paper's protocol (it sets K = number of classes for this).
    """
    counts = contingency_matrix(assignments, labels)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / counts.sum())


def cluster_metrics(assignments: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """acc, nmi, ari, max_purity in [0, 1] and entropy in nats, for hard `assignments`: (N,) cluster ids
    against `labels`: (N,) class ids (both non-negative integers)."""
    assignments, labels = _check_pair(assignments, labels)
    counts = contingency_matrix(assignments, labels)
    nonempty = counts[counts.sum(axis=1) > 0]
    fractions = nonempty / nonempty.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(fractions > 0, fractions * np.log(fractions), 0.0).sum(axis=1)
    return {
        "acc": hungarian_accuracy(assignments, labels),
        "nmi": float(normalized_mutual_info_score(labels, assignments)),
        "ari": float(adjusted_rand_score(labels, assignments)),
        "entropy": float(entropy.mean()),
        "max_purity": float(fractions.max(axis=1).mean()),
    }


def kmeans_assignments(features: np.ndarray, num_clusters: int, *, seed: int = 0) -> np.ndarray:
    """Hard k-means assignments (N,) of `features`: (N, D), L2-normalised first (cosine geometry, as
    retrieval uses)."""
    from sklearn.cluster import KMeans

    if features.ndim != 2:
        raise ValueError(f"features must be (num_samples, dim), got shape {features.shape}")
    if not 1 <= num_clusters <= len(features):
        raise ValueError(
            f"num_clusters must be in [1, {len(features)}] (the number of samples), got {num_clusters}"
        )
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    return KMeans(n_clusters=num_clusters, n_init=10, random_state=seed).fit_predict(unit).astype(np.int64)


def _check_pair(assignments: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    assignments = np.asarray(assignments)
    labels = np.asarray(labels)
    if assignments.ndim != 1 or assignments.shape != labels.shape:
        raise ValueError(
            f"assignments and labels must be 1-D of equal length, got {assignments.shape} and {labels.shape}"
        )
    if len(labels) == 0:
        raise ValueError("cluster metrics need at least one sample")
    for name, values in (("assignments", assignments), ("labels", labels)):
        if not np.issubdtype(values.dtype, np.integer) or values.min() < 0:
            raise ValueError(
                f"{name} must be non-negative integer ids, got dtype {values.dtype}, min {values.min()}"
            )
    return assignments.astype(np.int64), labels.astype(np.int64)


def prototype_assignments(checkpoint: str, evaluation) -> np.ndarray:
    """Rounded prototype assignments (N_test,) of a pretraining checkpoint: the arg-max over its
    prototypes of the scores averaged over each test video's clips (ViCC supp. Table 1).

    The method's `<Method>ForPretraining` must define `prototype_scores(pixel_values) -> (N, K)`."""
    from ..methods.registry import get_method

    record = evaluation.backbone.config.pretraining or {}
    if "method" not in record:
        raise ValueError(
            f"{checkpoint} is a plain backbone without pretraining heads; use --assignments kmeans"
        )
    model = get_method(record["method"]).model_class.from_pretrained(checkpoint)
    scores = getattr(model, "prototype_scores", None)
    if scores is None:
        raise ValueError(
            f"method '{record['method']}' defines no prototype_scores(); use --assignments kmeans"
        )
    model.to(evaluation.accelerator.device)
    outputs = evaluation.clip_outputs(scores, "test", modules=(model,))
    return outputs.video_means().argmax(dim=1).numpy()
