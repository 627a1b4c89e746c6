"""Downstream evaluation: linear probe, finetune, retrieval and clustering on the multi-clip test clips
of the model's video processor. Each metric is one plain function here; `hf_vssl.evaluation.metrics` wraps
them as local `evaluate` modules for users."""

from .accuracy import average_clip_probabilities, topk_accuracy
from .clustering import cluster_metrics, hungarian_accuracy, kmeans_assignments
from .extract import ExtractionArguments, VideoFeatures, extract_features, write_features
from .features import ClipOutputs, cached_backbone_features, extract_clip_outputs
from .finetune import FinetuneArguments, finetune
from .probe import ProbeArguments, linear_probe
from .report import markdown_table, publish_results, update_model_card, write_report
from .retrieval import evaluate_retrieval, retrieval_recall
from .runner import Evaluation, EvaluationArguments, build_evaluation, default_processor, load_backbone

__all__ = [
    "ClipOutputs",
    "Evaluation",
    "EvaluationArguments",
    "ExtractionArguments",
    "FinetuneArguments",
    "ProbeArguments",
    "VideoFeatures",
    "average_clip_probabilities",
    "build_evaluation",
    "cached_backbone_features",
    "cluster_metrics",
    "default_processor",
    "evaluate_retrieval",
    "extract_clip_outputs",
    "extract_features",
    "finetune",
    "hungarian_accuracy",
    "kmeans_assignments",
    "linear_probe",
    "load_backbone",
    "markdown_table",
    "publish_results",
    "retrieval_recall",
    "topk_accuracy",
    "update_model_card",
    "write_features",
    "write_report",
]
