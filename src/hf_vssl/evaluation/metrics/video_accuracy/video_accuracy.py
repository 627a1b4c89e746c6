"""Top-k video accuracy of clip-averaged class scores (hf_vssl.evaluation.accuracy.topk_accuracy)."""

import datasets
import evaluate

from hf_vssl.evaluation.accuracy import topk_accuracy

_DESCRIPTION = """Top-1 / top-5 accuracy of video-level class scores, i.e. the softmax averaged over the
clips of each video (10 uniform clips, or dense windows x crops), as every paper reports."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: per video, the class scores (a list of K floats, e.g. averaged clip probabilities).
    references: per video, the class index.
    ks: which top-k accuracies to return (default (1, 5)); k above K counts as K.
Returns:
    {"top1": float, "top5": float} in [0, 1].
"""


class VideoAccuracy(evaluate.Metric):
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

    def _compute(self, predictions, references, ks=(1, 5)):
        import numpy as np

        return topk_accuracy(np.asarray(predictions, dtype=np.float32), np.asarray(references), ks)
