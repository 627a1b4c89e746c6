"""Local `evaluate` modules (one folder each), for users: `evaluate.load` by path, offline.

Each module is a thin `evaluate.Metric` over the plain function of `hf_vssl.evaluation` that holds
the metric (`topk_accuracy`, `retrieval_recall`, `cluster_metrics`), so the numbers are the same
either way. The dependency runs one way: the modules import those functions, and the package's own
evaluation calls the functions directly, never through `evaluate`.
"""

from __future__ import annotations

from pathlib import Path

METRICS_DIR = Path(__file__).parent
METRIC_NAMES = ("video_accuracy", "retrieval_recall", "clustering")


def metric_path(name: str) -> Path:
    """The folder of the local `evaluate` module `name` (give it to `evaluate.load`)."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric '{name}'; choose one of: {', '.join(METRIC_NAMES)}")
    return METRICS_DIR / name


def load_metric(name: str, **kwargs):
    """`evaluate.load` of a bundled metric, by path: no network needed."""
    import evaluate

    return evaluate.load(str(metric_path(name)), **kwargs)
