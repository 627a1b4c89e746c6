"""Cluster evaluation of hard assignments (hf_vssl.evaluation.clustering.cluster_metrics)."""

import datasets
import evaluate

from hf_vssl.evaluation.clustering import cluster_metrics

_DESCRIPTION = """Hard cluster assignments (k-means ids or rounded prototype assignments) against class labels:
accuracy after Hungarian matching, NMI, ARI, mean entropy per cluster (nats) and mean maximal purity
per cluster, as in ViCC supp. Table 1."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: per sample, its cluster id.
    references: per sample, its class index.
Returns:
    {"acc", "nmi", "ari", "max_purity"} in [0, 1] and "entropy" in nats.
"""


class Clustering(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references):
        import numpy as np

        return cluster_metrics(np.asarray(predictions), np.asarray(references))
