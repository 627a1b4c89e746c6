"""`--monitor-max-videos`: the kNN monitor decodes a class-stratified subset of each split, the same
subset wherever and whenever it is asked for, and scores exactly those videos."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from accelerate.state import AcceleratorState
from test_monitor import evaluation_knn  # tests/training is on the path (rootdir import mode)

from hf_vssl.methods import build_method_config
from hf_vssl.training.loop import TrainingArguments
from hf_vssl.training.monitor import MONITOR_FILE, stratified_rows
from hf_vssl.training.pretrain import pretrain

# 3 classes of 10, 6 and 4 videos, in split order
LABELS = [0] * 10 + [1] * 6 + [2] * 4


@pytest.mark.parametrize("max_videos", [3, 5, 10, 13])
def test_the_subset_keeps_every_class_in_proportion(max_videos):
    rows = stratified_rows(LABELS, max_videos)
    assert len(rows) == len(set(rows)) == max_videos and rows == sorted(rows)
    counts = Counter(LABELS[row] for row in rows)
    assert set(counts) == {0, 1, 2}  # every class keeps a video
    # one video each, the rest in proportion to the class sizes: within one video of the exact share
    spare = max_videos - 3
    for label, size in Counter(LABELS).items():
        assert abs(counts[label] - 1 - spare * (size - 1) / (len(LABELS) - 3)) < 1, (label, counts)


def test_the_subset_spreads_over_a_class_and_depends_on_the_labels_only():
    rows = stratified_rows(LABELS, 10)
    assert rows == stratified_rows(list(LABELS), 10)  # every process, every resume: the same rows
    class_0 = [row for row in rows if LABELS[row] == 0]
    assert class_0 == [1, 3, 5, 7, 9]  # 5 of 10 (4.7 by proportion), spread over rows 0-9: not its first


def test_no_bound_or_a_large_one_keeps_every_video_and_too_small_a_bound_names_the_field():
    assert stratified_rows(LABELS, None) == stratified_rows(LABELS, 20) == list(range(20))
    with pytest.raises(ValueError, match="monitor_max_videos 2 is fewer than the 3 classes"):
        stratified_rows(LABELS, 2)
    with pytest.raises(ValueError, match="monitor_max_videos must be >= 1"):
        TrainingArguments(output_dir="run", monitor_every=1, monitor_max_videos=0)
    with pytest.raises(ValueError, match="set monitor_every too"):
        TrainingArguments(output_dir="run", monitor_max_videos=10)


def test_the_monitor_scores_the_subset(tiny_spec, tiny_dataset, tmp_path):
    AcceleratorState._reset_state()
    config = build_method_config(tiny_spec.name, overrides={"epochs": 1, "batch_size": 4})
    num_classes = len(set(tiny_dataset["train"]["label"]))
    args = TrainingArguments(
        output_dir=tmp_path, num_workers=0, logging_steps=1, progress_bar=False, report_to="none",
        monitor_every=1, monitor_max_videos=num_classes,
    )  # fmt: skip
    output = pretrain(config, tiny_dataset, args)
    lines = [json.loads(line) for line in (tmp_path / MONITOR_FILE).read_text().splitlines()]
    assert [line["videos"] for line in lines] == [{"train": num_classes, "test": num_classes}] * 2
    # the last pass = the weighted kNN of the evaluation code's features of the subset's videos
    train, test = (tiny_dataset[split] for split in ("train", "test"))
    subset = [split.select(stratified_rows(split["label"], num_classes)) for split in (train, test)]
    assert sorted(subset[0]["label"]) == list(range(num_classes))  # one video of each class
    expected = evaluation_knn(output, *subset, tmp_path)
    assert expected == {"top1": lines[-1]["knn_top1_label"], "top5": lines[-1]["knn_top5_label"]}
