"""Evaluation survives bad videos: an undecodable test or train video (a file or bytes in memory) is skipped,
counted and named (or, when asked, an error naming it), and finetune saves its model before testing; a label
column it cannot use is a one-line error."""

from __future__ import annotations

import shutil
from pathlib import Path

import datasets
import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

from hf_vssl.data.decoding import VideoDecodeError, video_path
from hf_vssl.data.processor import VsslVideoProcessor
from hf_vssl.data.sources import class_names, load_video_dataset
from hf_vssl.evaluation.features import ClipOutputs, cached_backbone_features
from hf_vssl.evaluation.finetune import FinetuneArguments, finetune
from hf_vssl.evaluation.runner import Evaluation
from hf_vssl.training.loop import TrainingArguments, make_accelerator

PROCESSOR = VsslVideoProcessor(num_frames=4, crop_size=32, frame_size=[40, 50], num_clips=2)


@pytest.fixture
def broken(tiny_ucf_root, tmp_path):
    """The tiny dataset, loaded, then one test video overwritten with bytes no decoder reads."""
    root = tmp_path / "data"
    shutil.copytree(tiny_ucf_root, root)
    dataset = load_video_dataset(root)
    bad = video_path(dataset["test"][1]["video"])
    with open(bad, "wb") as handle:
        handle.write(b"not a video" * 100)
    return dataset, bad


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return AutoModel.from_config(AutoConfig.for_model("vssl-r3d", depth=10, width_multiplier=0.125))


def test_an_undecodable_test_video_is_skipped_counted_and_named(broken, backbone, tmp_path):
    dataset, bad = broken
    accelerator = make_accelerator(TrainingArguments(output_dir=tmp_path), trackers=False)
    outputs = cached_backbone_features(
        backbone, dataset["test"], PROCESSOR, accelerator=accelerator, cache_dir=tmp_path, num_workers=0,
        batch_size=3,  # batches cut across videos
    )  # fmt: skip
    videos = len(dataset["test"])
    assert outputs.num_videos == videos - 1 and len(outputs.skipped) == 1 and bad in outputs.skipped[0]
    assert outputs.labels.tolist() == [label for i, label in enumerate(dataset["test"]["label"]) if i != 1]
    assert outputs.outputs.shape == (2 * (videos - 1), backbone.config.hidden_size)
    cached = ClipOutputs.load(next(tmp_path.glob("features-*.safetensors")))
    assert cached.skipped == outputs.skipped  # the cache keeps the names
    other_label = [10 + row for row in range(videos)]  # a second label column: the skipped row stays out
    assert outputs.relabel(other_label).labels.tolist() == [10 + row for row in range(videos) if row != 1]
    assert torch.equal(cached.relabel(other_label).labels, outputs.relabel(other_label).labels)
    with pytest.raises(VideoDecodeError, match=bad):
        cached_backbone_features(
            backbone, dataset["test"], PROCESSOR, accelerator=accelerator, cache_dir=None, num_workers=0,
            skip_corrupt=False,
        )  # fmt: skip


def test_batches_across_videos_give_the_per_video_results(tiny_ucf_root, backbone, tmp_path):
    dataset = load_video_dataset(tiny_ucf_root)
    accelerator = make_accelerator(TrainingArguments(output_dir=tmp_path), trackers=False)
    one = cached_backbone_features(
        backbone,
        dataset["test"],
        PROCESSOR,
        accelerator=accelerator,
        cache_dir=None,
        num_workers=0,
        batch_size=1,
    )
    many = cached_backbone_features(
        backbone,
        dataset["test"],
        PROCESSOR,
        accelerator=accelerator,
        cache_dir=None,
        num_workers=0,
        batch_size=5,
    )
    torch.testing.assert_close(one.outputs, many.outputs, atol=1e-5, rtol=1e-4)
    assert torch.equal(one.video_index, many.video_index)


def test_finetune_saves_its_model_before_the_test(broken, backbone, tmp_path):
    dataset, bad = broken
    training = TrainingArguments(output_dir=tmp_path, num_workers=0, max_steps=1, progress_bar=False)
    args = FinetuneArguments(epochs=1, batch_size=4)
    with pytest.raises(VideoDecodeError, match=bad):  # asked to stop at a bad test video ...
        finetune(
            backbone, dataset, class_names(dataset["train"]), PROCESSOR, args, training,
            accelerator=make_accelerator(training), save_dir=tmp_path / "finetuned", skip_corrupt=False,
        )  # fmt: skip
    saved = AutoModelForVideoClassification.from_pretrained(tmp_path / "finetuned")  # ... the model is kept
    assert saved.config.num_labels == len(class_names(dataset["train"]))


def test_bytes_rows_are_decoded_from_memory_and_a_bad_one_is_named(tiny_ucf_root, backbone, tmp_path):
    files = load_video_dataset(tiny_ucf_root)["test"].select(range(3))
    paths = [video_path(cell) for cell in files["video"]]
    cells = [{"bytes": Path(path).read_bytes(), "path": f"videos/{i}.mp4"} for i, path in enumerate(paths)]
    cells.append({"bytes": b"not a video" * 10, "path": "videos/bad.mp4"})
    in_memory = datasets.Dataset.from_dict(
        {"video": cells, "label": [*files["label"], 0]},
        features=datasets.Features({"video": datasets.Video(), "label": files.features["label"]}),
    )  # a decoding Video column, as a Hub dataset has; no video_frames: probed from memory
    accelerator = make_accelerator(TrainingArguments(output_dir=tmp_path), trackers=False)
    outputs = [
        cached_backbone_features(
            backbone, rows, PROCESSOR, accelerator=accelerator, cache_dir=None, num_workers=0
        )
        for rows in (in_memory, files)
    ]
    torch.testing.assert_close(outputs[0].outputs, outputs[1].outputs)
    (skipped,) = outputs[0].skipped  # named by the path the row records, not by its bytes
    assert skipped.startswith("videos/bad.mp4 (110 bytes in memory): FFmpeg cannot open it")


def test_an_unusable_label_column_is_a_one_line_error(tiny_ucf_root, backbone, tmp_path):
    dataset = load_video_dataset(tiny_ucf_root)
    accelerator = make_accelerator(TrainingArguments(output_dir=tmp_path), trackers=False)

    def evaluation(rows: datasets.DatasetDict, **fields) -> Evaluation:
        return Evaluation(backbone, "r3d", rows, PROCESSOR, accelerator, **fields)

    with pytest.raises(ValueError, match=r"no label column 'action'; columns: \[.*'label'.*--label-column"):
        evaluation(dataset, label_column="action")
    names = dataset.map(lambda row: {"label": str(row["label"])}).cast_column(
        "label", datasets.Value("string")
    )
    with pytest.raises(ValueError, match=r"holds Value\('string'\), not class indices.*class_encode_column"):
        evaluation(names)
    assert evaluation(dataset).class_names == dataset["train"].features["label"].names
