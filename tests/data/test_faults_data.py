"""Videos that would hurt a data worker (frames too large, too many frames, a decode that takes too
long) are refused from the stream's metadata, before a frame is allocated, and skipped and counted as
corrupt ones; a split file naming a video outside the dataset root is a one-line error."""

from __future__ import annotations

import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest

from hf_vssl.data.clip_dataset import VideoClipDataset
from hf_vssl.data.decoding import DecodeLimits, VideoDecodeError, decode_frames, probe_video
from hf_vssl.data.encoding import write_video
from hf_vssl.data.samplers import WindowSampler
from hf_vssl.data.sources import load_video_dataset

SMALL = (64, 80)  # the tiny set's frames


@pytest.fixture(scope="module")
def videos(tiny_ucf_root):
    return sorted(str(p) for p in Path(tiny_ucf_root).glob("*/*.mp4"))[:4]


def test_frames_larger_than_the_limit_are_refused_before_decoding(videos):
    limits = DecodeLimits(max_frame_pixels=SMALL[0] * SMALL[1] - 1)
    stats: dict[str, int] = {}
    with pytest.raises(VideoDecodeError, match=r"refused: its frames are 80x64, over max_frame_pixels 5119"):
        decode_frames(videos[0], [0, 1], stats=stats, limits=limits)
    assert stats.get("decoded", 0) == 0  # nothing was decoded
    with pytest.raises(VideoDecodeError, match=r"over max_frame_pixels"):
        probe_video(videos[0], limits)
    assert decode_frames(videos[0], [0, 1]).shape == (2, *SMALL, 3)  # the default limits take it


def test_too_many_frames_and_a_slow_decode_are_refused(videos):
    frames = probe_video(videos[0]).video_frames
    with pytest.raises(VideoDecodeError, match=rf"it has {frames} frames, over max_video_frames 10"):
        decode_frames(videos[0], [0], limits=DecodeLimits(max_video_frames=10))
    with pytest.raises(VideoDecodeError, match=r"decoding took over max_decode_seconds 1e-09"):
        decode_frames(videos[0], [0, frames - 1], limits=DecodeLimits(max_decode_seconds=1e-9))
    with pytest.raises(ValueError, match=r"DecodeLimits.max_decode_seconds must be > 0, got 0"):
        DecodeLimits(max_decode_seconds=0)


def test_a_video_past_the_limits_is_skipped_counted_and_named_in_training(videos, tmp_path):
    large = tmp_path / "large.mp4"
    write_video(large, np.zeros((8, 2 * SMALL[0], 2 * SMALL[1], 3), dtype=np.uint8))
    rows = datasets.Dataset.from_dict({"video": [str(large), *videos[1:]], "label": [0, 1, 2, 3]})
    dataset = VideoClipDataset(
        rows, WindowSampler(num_frames=4, max_stride=1), frame_size=(32, 40), seed=0,
        decode_limits=DecodeLimits(max_frame_pixels=SMALL[0] * SMALL[1]),
    )  # fmt: skip
    item = dataset[0]
    assert int(item["num_skipped"]) == 1 and int(item["index"]) != 0
    assert dataset.skipped_paths == [str(large)]


def test_a_split_file_naming_a_video_outside_the_root_is_refused(tiny_ucf_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_ucf_root, root)
    outside = tmp_path / "outside" / "v_secret.mp4"
    outside.parent.mkdir()
    shutil.copy(next(root.glob("*/*.mp4")), outside)
    listing = root / "ucfTrainTestlist" / "trainlist01.txt"
    first_row = listing.read_text().split("\n")[0].split()  # "<Class>/<video> <class index>"
    with open(listing, "a") as handle:  # in a class folder, by its name; outside, by its path
        handle.write(f"{first_row[0].split('/')[0]}/../../outside/v_secret.mp4 {first_row[1]}\n")
    with pytest.raises(ValueError, match=r"split 'train' of .* names a video outside the dataset root: "):
        load_video_dataset(root)


def test_evaluation_skips_and_names_a_video_past_the_default_limits(tiny_ucf_root, tmp_path):
    from transformers import AutoConfig, AutoModel

    from hf_vssl.data.decoding import video_path
    from hf_vssl.data.processor import VsslVideoProcessor
    from hf_vssl.evaluation.features import cached_backbone_features
    from hf_vssl.training.loop import TrainingArguments, make_accelerator

    big = tmp_path / "big.mp4"
    write_video(big, np.zeros((1, 4336, 7696, 3), dtype=np.uint8))  # one frame over 8K UHD, 8 kB of H.264
    test = load_video_dataset(tiny_ucf_root)["test"].select(range(2))
    rows = datasets.Dataset.from_dict(
        {"video": [*(video_path(cell) for cell in test["video"]), str(big)], "label": [*test["label"], 0]}
    )
    backbone = AutoModel.from_config(AutoConfig.for_model("vssl-r3d", depth=10, width_multiplier=0.125))
    outputs = cached_backbone_features(
        backbone, rows, VsslVideoProcessor(num_frames=4, crop_size=32, frame_size=[40, 50], num_clips=1),
        accelerator=make_accelerator(TrainingArguments(output_dir=tmp_path), trackers=False),
        cache_dir=None, num_workers=0,
    )  # fmt: skip
    assert outputs.num_videos == 2 and len(outputs.skipped) == 1 and str(big) in outputs.skipped[0]
    assert "refused: its frames are 7696x4336, over max_frame_pixels" in outputs.skipped[0]
