"""Two-stream late fusion of an RGB and a flow evaluation (ViCC supp. Tables 2-3, rows "R+F").

The rules are those of the released `eval/merge_2stream_prob.py` (ViCC, copied from CoCLR):
- classification (`merge_prob`): each stream's per-video probability is its softmax averaged over the
  video's clips and crops (`mean_prob` of `main_classifier.py`), and the fused probability is their
  plain mean (p_rgb + p_flow) / 2, equal weights;
- retrieval (`merge_sim`): each stream's video features are mean-centred and L2-normalised (each set
  by its own mean), and the fused similarity is the sum of the two streams' cosine similarities.

probe / finetune / retrieve save what fusion needs in their output folders: the per-clip test logits
or features (`test_clip_outputs.safetensors`) and, for retrieval, the gallery's
(`train_clip_outputs.safetensors`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from .accuracy import average_clip_probabilities, topk_accuracy
from .features import ClipOutputs
from .retrieval import RECALL_KS, prepare_retrieval_features, similarity_recall

TEST_OUTPUTS = "test_clip_outputs.safetensors"  # per-clip test logits (probe / finetune) or features
GALLERY_OUTPUTS = "train_clip_outputs.safetensors"  # retrieval: per-clip features of the training videos
# the report each evaluation command writes into its folder -> the kind of outputs it saved
REPORT_KINDS = {
    "probe.json": "classification",
    "finetune.json": "classification",
    "retrieval.json": "retrieval",
}


def video_probabilities(clip_logits: ClipOutputs) -> torch.Tensor:
    """(num_videos, K): the softmax of every clip averaged per video (`mean_prob` of the release)."""
    return average_clip_probabilities(clip_logits.outputs, clip_logits.video_index, clip_logits.num_videos)


def fuse_probabilities(first: ClipOutputs, second: ClipOutputs) -> torch.Tensor:
    """(num_videos, K): the released merge_prob, (p_first + p_second) / 2 of the per-video probabilities."""
    _check_same_videos(first, second)
    return (video_probabilities(first) + video_probabilities(second)) / 2


def fused_accuracy(first: ClipOutputs, second: ClipOutputs, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """top-k of the fused per-video probabilities."""
    return topk_accuracy(fuse_probabilities(first, second).numpy(), first.labels.numpy(), ks)


def stream_similarity(gallery: ClipOutputs, queries: ClipOutputs) -> torch.Tensor:
    """(num_queries, num_gallery) cosine similarity of one stream, its video features centred and
    normalised per set (the release's `preprocess`)."""
    query_features = prepare_retrieval_features(queries.video_means().numpy())
    gallery_features = prepare_retrieval_features(gallery.video_means().numpy())
    return torch.from_numpy(query_features @ gallery_features.T)


def fused_similarity(
    first: tuple[ClipOutputs, ClipOutputs], second: tuple[ClipOutputs, ClipOutputs]
) -> torch.Tensor:
    """(num_queries, num_gallery): the released merge_sim, sim_first + sim_second; each argument is a
    stream's (gallery, queries)."""
    _check_same_videos(first[0], second[0])
    _check_same_videos(first[1], second[1])
    return stream_similarity(*first) + stream_similarity(*second)


def fused_retrieval(
    first: tuple[ClipOutputs, ClipOutputs],
    second: tuple[ClipOutputs, ClipOutputs],
    ks: Sequence[int] = RECALL_KS,
) -> dict[str, float]:
    """R@k of the fused similarity; each argument is a stream's (gallery, queries)."""
    gallery, queries = first
    return similarity_recall(
        fused_similarity(first, second).numpy(), queries.labels.numpy(), gallery.labels.numpy(), ks
    )


def save_clip_outputs(output_dir: str | Path, test: ClipOutputs, gallery: ClipOutputs | None = None) -> None:
    """Write the per-clip outputs a later `hf-vssl fuse` reads into an evaluation's output folder."""
    test.save(Path(output_dir) / TEST_OUTPUTS)
    if gallery is not None:
        gallery.save(Path(output_dir) / GALLERY_OUTPUTS)


def fuse_folders(first: str | Path, second: str | Path, ks: Sequence[int] | None = None) -> dict[str, dict]:
    """Fuse two finished evaluations (output folders of probe / finetune, or of retrieve): rows for
    each stream alone and fused, named after the evaluated model of each folder's report."""
    kinds, names = [], []
    for folder in (Path(first), Path(second)):
        reports = [name for name in REPORT_KINDS if (folder / name).is_file()]
        if not reports or not (folder / TEST_OUTPUTS).is_file():
            raise FileNotFoundError(
                f"{folder} holds no finished probe / finetune / retrieve run with saved clip outputs "
                f"({' / '.join(REPORT_KINDS)} and {TEST_OUTPUTS}); run the evaluation again to write them"
            )
        report = json.loads((folder / reports[0]).read_text())
        kinds.append(REPORT_KINDS[reports[0]])
        names.append(f"{report.get('model', folder.name)} ({report.get('stream', '?')})")
    if names[0] == names[1]:
        names = [str(first), str(second)]
    if kinds[0] != kinds[1]:
        raise ValueError(f"cannot fuse a {kinds[0]} run ({first}) with a {kinds[1]} run ({second})")
    tests = [ClipOutputs.load(Path(folder) / TEST_OUTPUTS) for folder in (first, second)]
    if kinds[0] == "classification":
        ks = tuple(ks or (1, 5))
        rows = {
            name: topk_accuracy(video_probabilities(t).numpy(), t.labels.numpy(), ks)
            for name, t in zip(names, tests)
        }
        rows["late fusion"] = fused_accuracy(*tests, ks=ks)
        return rows
    ks = tuple(ks or RECALL_KS)
    streams = []
    for folder, test in zip((first, second), tests):
        gallery_path = Path(folder) / GALLERY_OUTPUTS
        if not gallery_path.is_file():
            raise FileNotFoundError(
                f"{folder} has no {GALLERY_OUTPUTS}; run `hf-vssl retrieve` again to write it"
            )
        streams.append((ClipOutputs.load(gallery_path), test))
    rows = {
        name: similarity_recall(
            stream_similarity(gallery, queries).numpy(), queries.labels.numpy(), gallery.labels.numpy(), ks
        )
        for name, (gallery, queries) in zip(names, streams)
    }
    rows["late fusion"] = fused_retrieval(*streams, ks=ks)
    return rows


def _check_same_videos(first: ClipOutputs, second: ClipOutputs) -> None:
    """The two streams must score the same videos in the same order (the same dataset split)."""
    if not torch.equal(first.labels, second.labels):
        raise ValueError(
            f"the two streams' videos differ ({first.num_videos} vs {second.num_videos} videos, or other "
            "labels in that order); evaluate both on the same dataset and split"
        )
