"""The evaluation metrics on hand-made inputs with known answers, as plain functions and as the local
`evaluate` modules loaded by path."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_vssl.evaluation.accuracy import average_clip_probabilities, topk_accuracy
from hf_vssl.evaluation.classifier import video_accuracy
from hf_vssl.evaluation.clustering import cluster_metrics, hungarian_accuracy, kmeans_assignments
from hf_vssl.evaluation.features import ClipOutputs
from hf_vssl.evaluation.metrics import load_metric, metric_path
from hf_vssl.evaluation.retrieval import evaluate_retrieval, retrieval_recall


def test_cluster_metrics_of_a_relabelled_perfect_clustering_are_perfect():
    labels = np.array([0, 0, 1, 1, 2, 2])
    assignments = np.array([5, 5, 3, 3, 0, 0])  # same partition, other ids (and unused ids 1, 2, 4)
    metrics = cluster_metrics(assignments, labels)
    assert metrics == pytest.approx({"acc": 1.0, "nmi": 1.0, "ari": 1.0, "entropy": 0.0, "max_purity": 1.0})


def test_cluster_metrics_of_clusters_independent_of_the_labels():
    labels = np.array([0, 1, 0, 1, 0, 1])
    assignments = np.array([0, 0, 1, 1, 2, 2])  # every cluster holds one sample of each class
    metrics = cluster_metrics(assignments, labels)
    assert metrics["acc"] == pytest.approx(2 / 6)  # two clusters matched, one sample right in each
    assert metrics["nmi"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["ari"] < 0
    assert metrics["entropy"] == pytest.approx(math.log(2))
    assert metrics["max_purity"] == pytest.approx(0.5)


def test_hungarian_matching_is_one_to_one():
    # both clusters are mostly class 0; only one may map to it
    labels = np.array([0, 0, 0, 1, 0, 0, 1])
    assignments = np.array([0, 0, 0, 0, 1, 1, 1])
    assert hungarian_accuracy(assignments, labels) == pytest.approx(4 / 7)  # c0->0 (3) + c1->1 (1)


def test_cluster_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="equal length"):
        cluster_metrics(np.array([0, 1]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="non-negative integer"):
        cluster_metrics(np.array([0.5, 1.0]), np.array([0, 1]))


def test_kmeans_recovers_separated_groups():
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8) * 10
    labels = np.repeat(np.arange(3), 10)
    features = centres[labels] + rng.normal(scale=0.1, size=(30, 8))
    assert cluster_metrics(kmeans_assignments(features, 3), labels)["acc"] == 1.0


def test_retrieval_of_identical_features_finds_itself():
    features = np.random.default_rng(0).normal(size=(12, 16)).astype(np.float32)
    labels = np.arange(12) % 4
    recall = retrieval_recall(features, labels, features, labels, ks=(1, 5))
    assert recall == {"R@1": 1.0, "R@5": 1.0}


def test_retrieval_recall_counts_a_hit_within_k_only():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    gallery_labels = np.array([0, 1, 2])
    queries = np.array([[0.9, 0.1], [0.8, -0.2]])
    query_labels = np.array([1, 0])  # query 0: nearest is class 0 (miss), class 1 second
    recall = retrieval_recall(queries, query_labels, gallery, gallery_labels, ks=(1, 2, 50), prepare=False)
    assert recall == {"R@1": 0.5, "R@2": 1.0, "R@50": 1.0}


def test_topk_accuracy_and_clip_averaging():
    # video 0: two clips that disagree, the average favours class 2; video 1: one clip of class 0
    clip_logits = torch.tensor([[0.0, 0.0, 5.0], [0.0, 3.0, 0.0], [4.0, 0.0, 0.0]])
    video_index = torch.tensor([0, 0, 1])
    probs = average_clip_probabilities(clip_logits, video_index, num_videos=2)
    assert torch.allclose(probs.sum(1), torch.ones(2))
    assert probs.argmax(1).tolist() == [2, 0]
    labels = np.array([1, 0])
    assert topk_accuracy(probs.numpy(), labels, ks=(1, 2)) == {"top1": 0.5, "top2": 1.0}
    with pytest.raises(ValueError, match="without clips"):
        average_clip_probabilities(clip_logits, video_index, num_videos=3)


def test_local_evaluate_modules_load_offline_and_match_the_functions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    labels = np.array([0, 1, 0, 1, 0, 1])
    assignments = np.array([0, 0, 1, 1, 2, 2])
    clustering = load_metric("clustering", keep_in_memory=True)
    assert clustering.compute(predictions=assignments, references=labels) == pytest.approx(
        cluster_metrics(assignments, labels)
    )
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], dtype=np.float32)
    accuracy = load_metric("video_accuracy", keep_in_memory=True)
    assert accuracy.compute(predictions=scores, references=[1, 1, 1], ks=(1,)) == {
        "top1": pytest.approx(2 / 3)
    }
    features = np.eye(4, dtype=np.float32)
    recall = load_metric("retrieval_recall", keep_in_memory=True)
    result = recall.compute(
        predictions=features, references=[0, 1, 2, 3], gallery_features=features, gallery_labels=[0, 1, 2, 3]
    )
    assert result["R@1"] == 1.0 and set(result) == {"R@1", "R@5", "R@10", "R@20", "R@50"}
    with pytest.raises(ValueError, match="unknown metric"):
        metric_path("bleu")


def test_the_package_computes_its_metrics_without_going_through_evaluate(monkeypatch):
    """One direction: the `evaluate` modules import the functions; probe / finetune accuracy and retrieval call
    the functions, so an `evaluate` that cannot be imported stops only `load_metric`."""
    monkeypatch.setitem(sys.modules, "evaluate", None)  # `import evaluate` raises ImportError
    clips = ClipOutputs(
        outputs=torch.tensor([[3.0, 0.0], [0.0, 1.0], [0.0, 2.0], [1.0, 0.0]]),
        video_index=torch.tensor([0, 0, 1, 1]),
        labels=torch.tensor([0, 0]),
    )
    assert video_accuracy(clips, ks=(1,)) == {"top1": 0.5}  # video 0 averages to class 0, video 1 to 1
    assert evaluate_retrieval(clips, clips, ks=(1,)) == {"R@1": 1.0}
    with pytest.raises(ImportError):
        load_metric("video_accuracy")


def test_a_feature_cache_write_cut_short_leaves_no_file_a_later_run_would_read(tmp_path, monkeypatch):
    """Runs sharing a feature cache (the benchmark's seeds, a user's parallel evaluations) read a cached file
    whenever its name is there: a writer killed mid-file must not leave a truncated one under that name."""
    from hf_vssl.evaluation import features

    def write_half_then_die(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\x08\x00\x00")  # the first bytes of a safetensors header
        raise KeyboardInterrupt

    monkeypatch.setattr(features, "save_file", write_half_then_die)
    clips = ClipOutputs(
        outputs=torch.zeros(2, 3), video_index=torch.tensor([0, 1]), labels=torch.tensor([0, 1])
    )
    path = tmp_path / "features-abc.safetensors"
    with pytest.raises(KeyboardInterrupt):
        clips.save(path)
    assert not path.exists()
    monkeypatch.undo()
    clips.save(path)
    assert torch.equal(ClipOutputs.load(path).outputs, clips.outputs)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
