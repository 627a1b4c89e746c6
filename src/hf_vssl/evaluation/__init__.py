"""Downstream evaluation: linear probe, finetune, retrieval and clustering under the multi-clip test
protocol, with the metrics as local `evaluate` modules (`hf_vssl.evaluation.metrics`)."""

from .accuracy import average_clip_probabilities, topk_accuracy
from .clustering import cluster_metrics, hungarian_accuracy, kmeans_assignments
from .features import ClipOutputs, ClipProtocol, cached_backbone_features, extract_clip_outputs
from .finetune import FinetuneArguments, finetune
from .probe import ProbeArguments, linear_probe
from .report import markdown_table, update_model_card, write_report
from .retrieval import evaluate_retrieval, retrieval_recall
from .runner import Evaluation, default_protocol, load_backbone

__all__ = [
    "ClipOutputs",
    "ClipProtocol",
    "Evaluation",
    "FinetuneArguments",
    "ProbeArguments",
    "average_clip_probabilities",
    "cached_backbone_features",
    "cluster_metrics",
    "default_protocol",
    "evaluate_retrieval",
    "extract_clip_outputs",
    "finetune",
    "hungarian_accuracy",
    "kmeans_assignments",
    "linear_probe",
    "load_backbone",
    "markdown_table",
    "retrieval_recall",
    "topk_accuracy",
    "update_model_card",
    "write_report",
]
