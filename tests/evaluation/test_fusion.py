"""Two-stream late fusion on per-clip outputs whose fused scores are computed by hand, with the rules
of ViCC's released eval/merge_2stream_prob.py (merge_prob: (p1 + p2) / 2 of the per-video mean
softmax; merge_sim: sim1 + sim2 of per-set centred, L2-normalised features)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hf_vssl.cli.main import main
from hf_vssl.evaluation.features import ClipOutputs
from hf_vssl.evaluation.fusion import fuse_probabilities, fused_accuracy, fused_retrieval, fused_similarity
from hf_vssl.evaluation.report import write_report


def _clips(probabilities: list[list[float]], video_index: list[int], labels: list[int]) -> ClipOutputs:
    """Per-clip logits whose softmax is exactly `probabilities`."""
    return ClipOutputs(torch.tensor(probabilities).log(), torch.tensor(video_index), torch.tensor(labels))


LABELS = [1, 0]
# video 0: two RGB clips, one flow clip; video 1: one RGB clip, two flow clips
RGB = _clips([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]], [0, 0, 1], LABELS)
FLOW = _clips([[0.1, 0.8, 0.1], [0.5, 0.3, 0.2], [0.7, 0.1, 0.2]], [0, 1, 1], LABELS)


def test_fused_probabilities_average_the_per_video_softmax_of_each_stream():
    # per video: RGB [0.4, 0.4, 0.2] and [0.1, 0.2, 0.7]; flow [0.1, 0.8, 0.1] and [0.6, 0.2, 0.2]
    expected = torch.tensor([[0.25, 0.6, 0.15], [0.35, 0.2, 0.45]])
    torch.testing.assert_close(fuse_probabilities(RGB, FLOW), expected)
    # video 1: fused argmax is class 2 (wrong); pooling all three clips instead would give class 0
    assert fused_accuracy(RGB, FLOW, ks=(1, 2)) == {"top1": 0.5, "top2": 1.0}


def test_fusion_refuses_streams_of_other_videos():
    other = _clips([[0.5, 0.5, 0.0001]] * 3, [0, 1, 1], [0, 0])
    with pytest.raises(ValueError, match="the two streams' videos differ"):
        fuse_probabilities(RGB, other)


def _features(rows: list[list[float]], labels: list[int]) -> ClipOutputs:
    return ClipOutputs(torch.tensor(rows, dtype=torch.float32), torch.arange(len(rows)), torch.tensor(labels))


GALLERY = _features([[1, 0], [0, 1], [-1, -1]], [0, 1, 2])  # mean 0: centring keeps them
QUERY_LABELS = [0, 1, 2, 2]
RGB_QUERIES = _features([[0.6, 0.8], [0, 1], [-0.6, -0.8], [0, -1]], QUERY_LABELS)  # mean 0
FLOW_QUERIES = _features([[1, 0], [0.8, 0.6], [-1, 0], [-0.8, -0.6]], QUERY_LABELS)


def test_fused_similarity_sums_the_streams_cosines():
    similarity = fused_similarity((GALLERY, RGB_QUERIES), (GALLERY, FLOW_QUERIES))
    root2 = math.sqrt(2)
    # query 0: RGB cosines [0.6, 0.8, -1.4 / sqrt 2], flow [1, 0, -1 / sqrt 2]
    torch.testing.assert_close(similarity[0], torch.tensor([1.6, 0.8, -2.4 / root2], dtype=similarity.dtype))
    # RGB alone misses query 0 (nearest: video 1), flow alone misses query 1 (nearest: video 0)
    assert fused_retrieval((GALLERY, RGB_QUERIES), (GALLERY, FLOW_QUERIES), ks=(1,)) == {"R@1": 1.0}
    assert fused_retrieval((GALLERY, RGB_QUERIES), (GALLERY, RGB_QUERIES), ks=(1,)) == {"R@1": 0.75}


def _finished_run(
    folder, name: str, stream: str, test: ClipOutputs, gallery: ClipOutputs | None = None
) -> None:
    """What probe / retrieve leave in their output folder: the report and the clip outputs."""
    write_report(
        {name: {}}, folder, "retrieval" if gallery is not None else "probe", model=name, stream=stream
    )
    test.save(folder / "test_clip_outputs.safetensors")
    if gallery is not None:
        gallery.save(folder / "train_clip_outputs.safetensors")


def test_fuse_command_writes_each_stream_and_the_fusion(tmp_path, capsys):
    _finished_run(tmp_path / "rgb", "vicc", "rgb", RGB)
    _finished_run(tmp_path / "flow", "vicc", "flow", FLOW)
    argv = ["fuse", str(tmp_path / "rgb"), str(tmp_path / "flow"), "--ks", "1", "2"]
    assert main([*argv, "--output-dir", str(tmp_path / "fused")]) == 0
    rows = json.loads((tmp_path / "fused" / "fusion.json").read_text())["results"]
    assert rows == {
        "vicc (rgb)": {"top1": 0.0, "top2": 0.5},  # video 0 ties classes 0 and 1: the first wins
        "vicc (flow)": {"top1": 1.0, "top2": 1.0},
        "late fusion": {"top1": 0.5, "top2": 1.0},
    }
    _finished_run(tmp_path / "rgb-retrieval", "vicc", "rgb", RGB_QUERIES, GALLERY)
    _finished_run(tmp_path / "flow-retrieval", "vicc", "flow", FLOW_QUERIES, GALLERY)
    retrieval = ["fuse", str(tmp_path / "rgb-retrieval"), str(tmp_path / "flow-retrieval"), "--ks", "1"]
    assert main([*retrieval, "--output-dir", str(tmp_path / "fused-retrieval")]) == 0
    rows = json.loads((tmp_path / "fused-retrieval" / "fusion.json").read_text())["results"]
    assert rows == {"vicc (rgb)": {"R@1": 0.75}, "vicc (flow)": {"R@1": 0.75}, "late fusion": {"R@1": 1.0}}
    capsys.readouterr()
    assert (
        main(["fuse", str(tmp_path / "rgb"), str(tmp_path / "flow-retrieval"), "--output-dir", str(tmp_path)])
        == 2
    )
    assert "cannot fuse a classification run" in capsys.readouterr().err
