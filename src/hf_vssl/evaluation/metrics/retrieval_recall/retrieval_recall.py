"""Video retrieval recall R@k (hf_vssl.evaluation.retrieval.retrieval_recall)."""

import datasets
import evaluate

from hf_vssl.evaluation.retrieval import RECALL_KS, retrieval_recall

_DESCRIPTION = """Nearest-neighbour retrieval: test videos query the training videos by cosine similarity of
mean-centred, L2-normalised features; R@k is the fraction of queries with a same-class video among
the k nearest (MFO, SDC, Pace Prediction and ViCC supp.)."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: per query video, its feature vector (clip features averaged).
    references: per query video, its class index.
    gallery_features: (G, D) features of the training videos.
    gallery_labels: (G,) their class indices.
    ks: the recall cut-offs (default 1, 5, 10, 20, 50).
Returns:
    {"R@1": float, ...} in [0, 1].
"""


class RetrievalRecall(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Value("int64"),
                }
            ),
        )

    def _compute(self, predictions, references, gallery_features, gallery_labels, ks=RECALL_KS):
        import numpy as np

        return retrieval_recall(
            np.asarray(predictions, dtype=np.float32),
            np.asarray(references),
            np.asarray(gallery_features, dtype=np.float32),
            np.asarray(gallery_labels),
            ks,
        )
