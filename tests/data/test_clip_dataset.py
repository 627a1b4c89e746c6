"""VideoClipDataset: the clips are the sampled frames, reproducible per (seed, epoch, index), corrupt files skipped."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hf_vssl.data.clip_dataset import VideoClipDataset
from hf_vssl.data.decoding import VideoDecodeError, decode_frames, probe_video
from hf_vssl.data.samplers import TwoClipSampler, WindowSampler
from hf_vssl.methods.vicc import ViCCSampler

SIZE = (32, 40)


@pytest.fixture(scope="module")
def tiny_rows(tiny_ucf_root) -> datasets.Dataset:
    paths = sorted(str(p) for p in Path(tiny_ucf_root).glob("*/*.mp4"))[:8]
    return datasets.Dataset.from_dict(
        {
            "video": paths,
            "label": list(range(len(paths))),
            "video_frames": [probe_video(p).video_frames for p in paths],
            "flow": paths[::-1],  # any other video stands in for a flow video here
        }
    )


def test_views_are_the_sampled_frames(tiny_rows):
    sampler = WindowSampler(num_frames=4, static=True)
    dataset = VideoClipDataset(tiny_rows, sampler, frame_size=SIZE, seed=5)
    dataset.set_epoch(2)
    item = dataset[3]
    rng = np.random.default_rng([5, 2, 3, 0])  # the documented per-sample seed: (seed, epoch, index, attempt)
    expected = sampler(tiny_rows[3]["video_frames"], rng)
    for key, indices in expected.views.items():
        frames = decode_frames(tiny_rows[3]["video"], indices, size=SIZE)
        assert item["views"][key].dtype == torch.uint8 and item["views"][key].shape == (4, *SIZE, 3)
        np.testing.assert_array_equal(item["views"][key].numpy(), frames, err_msg=key)
    assert item["label"] == 3 and item["index"] == 3 and item["num_skipped"] == 0


def test_epochs_change_clips_and_are_reproducible(tiny_rows):
    dataset = VideoClipDataset(tiny_rows, TwoClipSampler(num_frames=4), frame_size=SIZE)
    first = dataset[0]["views"]["clip0"]
    dataset.set_epoch(1)
    other = dataset[0]["views"]["clip0"]
    dataset.set_epoch(0)
    assert torch.equal(dataset[0]["views"]["clip0"], first)
    assert not torch.equal(other, first)


def test_flow_views_read_the_flow_video_at_the_same_indices(tiny_rows):
    dataset = VideoClipDataset(tiny_rows, ViCCSampler(num_frames=4, streams=("rgb", "flow")), frame_size=SIZE)
    item = dataset[1]
    rng = np.random.default_rng([0, 0, 1, 0])
    indices = ViCCSampler(num_frames=4, streams=("rgb", "flow"))(tiny_rows[1]["video_frames"], rng).views[
        "flow0"
    ]
    np.testing.assert_array_equal(
        item["views"]["flow0"].numpy(), decode_frames(tiny_rows[1]["flow"], indices, size=SIZE)
    )
    no_flow = VideoClipDataset(
        tiny_rows.remove_columns("flow"), ViCCSampler(4, ("rgb", "flow")), frame_size=SIZE
    )
    with pytest.raises(ValueError, match="extract-flow"):
        no_flow[0]


def test_corrupt_and_empty_videos_are_skipped_and_counted(tiny_rows, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01not a video" * 100)
    rows = datasets.Dataset.from_dict(
        {"video": [str(empty), str(garbage), *tiny_rows["video"][:2]], "label": [0, 1, 2, 3]}
    )  # no num_frames column: probed per sample, where the bad files fail
    dataset = VideoClipDataset(rows, TwoClipSampler(num_frames=4), frame_size=SIZE)
    item = dataset[0]
    assert item["num_skipped"] >= 1 and int(item["index"]) in (2, 3)  # another, readable row was drawn
    assert str(empty) in dataset.skipped_paths
    batch = next(iter(DataLoader(dataset, batch_size=4)))
    assert int(batch["num_skipped"].sum()) >= 2  # the training loop sums and reports this per epoch
    strict = VideoClipDataset(rows, TwoClipSampler(num_frames=4), frame_size=SIZE, skip_corrupt=False)
    with pytest.raises(VideoDecodeError, match=r"garbage\.mp4"):
        strict[1]


def test_default_collate_and_persistent_workers_see_set_epoch(tiny_rows):
    dataset = VideoClipDataset(tiny_rows, TwoClipSampler(num_frames=4), frame_size=SIZE)
    loader = DataLoader(dataset, batch_size=4, num_workers=1, persistent_workers=True)
    epoch0 = next(iter(loader))
    assert epoch0["views"]["clip0"].shape == (4, 4, *SIZE, 3) and epoch0["label"].tolist() == [0, 1, 2, 3]
    dataset.set_epoch(1)
    epoch1 = next(iter(loader))
    assert torch.equal(epoch1["views"]["clip0"][0], dataset[0]["views"]["clip0"])  # the worker saw epoch 1
    assert not torch.equal(epoch1["views"]["clip0"], epoch0["views"]["clip0"])


def test_repeated_samples_are_independent_clips_from_one_decode(tiny_rows, monkeypatch):
    """K samples of a video: K clip draws from the item's random state, one decoder pass over their union."""
    from hf_vssl.data import clip_dataset

    calls = []

    def counting_decode(path, indices, **kwargs):
        calls.append(np.asarray(indices))
        return decode_frames(path, indices, **kwargs)

    monkeypatch.setattr(clip_dataset, "decode_frames", counting_decode)
    sampler = TwoClipSampler(num_frames=4)
    dataset = VideoClipDataset(tiny_rows, sampler, frame_size=SIZE, seed=5, repeated_samples=3)
    dataset.set_epoch(2)
    item = dataset[3]
    assert len(calls) == 1  # one decode (one container opened) for the 3 samples
    rng = np.random.default_rng([5, 2, 3, 0])  # the documented per-item seed: (seed, epoch, index, attempt)
    expected = [sampler(tiny_rows[3]["video_frames"], rng).views for _ in range(3)]
    union = np.unique(np.concatenate([v.reshape(-1) for views in expected for v in views.values()]))
    np.testing.assert_array_equal(calls[0], union)
    for key in ("clip0", "clip1"):
        assert item["views"][key].shape == (3, 4, *SIZE, 3)
        for k, views in enumerate(expected):
            frames = decode_frames(tiny_rows[3]["video"], views[key], size=SIZE)
            np.testing.assert_array_equal(item["views"][key][k].numpy(), frames, err_msg=f"{key} sample {k}")
    starts = {int(views["clip0"][0]) for views in expected}
    assert len(starts) > 1  # the samples are different clips of the video, not one clip repeated
    assert item["label"].tolist() == [3, 3, 3] and item["index"].tolist() == [3, 3, 3]
    assert item["num_skipped"].shape == ()


def test_repeated_samples_collate_into_the_batch_and_count_skips_once(tiny_rows, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    rows = datasets.Dataset.from_dict(
        {"video": [str(empty), *tiny_rows["video"][:3]], "label": [0, 1, 2, 3]}
    )  # no video_frames column: probed per sample, where the empty file fails
    dataset = VideoClipDataset(rows, TwoClipSampler(num_frames=4), frame_size=SIZE, repeated_samples=2)
    batch = next(iter(DataLoader(dataset, batch_size=4, collate_fn=dataset.collate_fn)))
    assert batch["views"]["clip0"].shape == (8, 4, *SIZE, 3)  # 4 videos x 2 samples
    assert batch["label"].shape == (8,) and torch.equal(batch["label"][0::2], batch["label"][1::2])
    assert batch["index"][2:].tolist() == [1, 1, 2, 2, 3, 3]  # item i is samples 2i, 2i + 1
    assert batch["num_skipped"].shape == (4,)  # one count per video read, not per sample
    assert int(batch["num_skipped"].sum()) == len(dataset.skipped_paths) >= 1
    with pytest.raises(ValueError, match="repeated_samples"):
        VideoClipDataset(rows, TwoClipSampler(num_frames=4), repeated_samples=0)
