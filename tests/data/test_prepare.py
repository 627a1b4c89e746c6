"""`hf-vssl prepare`: the copy loads like the source, has even sizes and short GOPs, resumes, survives bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import datasets
import numpy as np
import pytest

from hf_vssl.cli.main import main
from hf_vssl.data.clip_dataset import VideoClipDataset
from hf_vssl.data.decoding import probe_video, video_path
from hf_vssl.data.loaders import CACHE_FILENAME, VideoMetadataCache
from hf_vssl.data.prepare import TEMP_SUFFIX, prepare_dataset, prepared_size
from hf_vssl.data.samplers import SingleClipSampler
from hf_vssl.data.sources import load_video_dataset

SHORT_SIDE = 36  # the tiny set is 64x80: 36 x 45 would be odd, the copy must be 36 x 44


def _rows(splits: datasets.DatasetDict, root: Path) -> dict[str, list[tuple[str, int]]]:
    """Per split: (relative path without extension, label) of every row, in order."""
    return {
        name: [
            (str(Path(path).relative_to(root).with_suffix("")), label)
            for path, label in zip(map(video_path, rows["video"]), rows["label"])
        ]
        for name, rows in splits.items()
    }


@pytest.fixture(scope="module")
def prepared(tiny_ucf_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "tiny128"
    assert (
        main(["prepare", str(tiny_ucf_root), str(out), "--short-side", str(SHORT_SIDE), "--num-workers", "2"])
        == 0
    )
    return out


def test_prepared_copy_loads_with_the_same_splits_and_labels(tiny_ucf_root, prepared):
    source, copy = load_video_dataset(tiny_ucf_root), load_video_dataset(prepared)
    assert _rows(copy, prepared) == _rows(source, tiny_ucf_root)
    assert copy["train"].features["label"].names == source["train"].features["label"].names
    for split in (2, 3):  # every official split list was copied
        assert _rows(load_video_dataset(prepared, split=split), prepared) == _rows(
            load_video_dataset(tiny_ucf_root, split=split), tiny_ucf_root
        )
    assert set(copy["train"]["height"]) == {SHORT_SIDE} and set(copy["train"]["width"]) == {44}
    # every frame kept; the frame counts were recorded while encoding (the cache the loaders read)
    assert copy["train"]["video_frames"] == source["train"]["video_frames"]
    assert not (prepared / CACHE_FILENAME).exists()  # the cache is in the Hugging Face cache, not the data
    cache = VideoMetadataCache(prepared)
    first = Path(video_path(copy["train"][0]["video"]))
    assert cache.entries[str(first.relative_to(prepared))]["video_frames"] == probe_video(first).video_frames


def test_sizes_are_even_and_key_frames_close(prepared):
    assert prepared_size(240, 320, 128) == (128, 170)  # UCF-101: not the papers' odd 171
    assert prepared_size(320, 180, 128) == (228, 128)  # portrait: height from the short width
    with pytest.raises(ValueError, match="even"):
        prepared_size(240, 320, 127)
    video = next(prepared.glob("Still/*.mp4"))
    with av.open(str(video)) as container:
        keys = [i for i, packet in enumerate(container.demux(video=0)) if packet.size and packet.is_keyframe]
    assert keys[0] == 0 and max(np.diff(keys)) <= 16


def test_second_run_skips_everything_and_removes_half_written_files(tiny_ucf_root, prepared, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(prepared, out)
    redo = next(out.glob("MoveLeft/*.mp4"))
    redo.unlink()
    stale = redo.with_name(redo.name + TEMP_SUFFIX)
    stale.write_bytes(b"half a video")  # a run stopped while writing it
    report = prepare_dataset(tiny_ucf_root, out, short_side=SHORT_SIDE, progress=False)
    assert report.written == [str(redo.relative_to(out))] and len(report.existing) == 35
    assert not stale.exists() and probe_video(redo).video_frames > 0
    again = prepare_dataset(tiny_ucf_root, out, short_side=SHORT_SIDE, progress=False)
    assert again.written == [] and len(again.existing) == 36 and not again.failed


def test_undecodable_source_is_skipped_counted_and_named(tiny_ucf_root, tmp_path, capsys):
    source = tmp_path / "source"
    shutil.copytree(tiny_ucf_root, source)
    bad = source / "Oscillate" / "v_Oscillate_g02_c01.mp4"
    bad.write_bytes(np.random.default_rng(0).bytes(3000))
    assert main(["prepare", str(source), str(tmp_path / "out"), "--short-side", "32"]) == 0
    summary = capsys.readouterr().out
    assert "prepared 35 videos" in summary and "1 undecodable" in summary
    assert "Oscillate/v_Oscillate_g02_c01.mp4" in summary
    assert not (tmp_path / "out" / "Oscillate" / "v_Oscillate_g02_c01.mp4").exists()
    assert not list((tmp_path / "out").rglob(f"*{TEMP_SUFFIX}"))


def test_parquet_round_trip_decodes_bytes_from_memory(tiny_ucf_root, prepared, tmp_path):
    out = tmp_path / "parquet"
    shutil.copytree(prepared, out / "videos")  # the prepared videos are reused: only the shards are written
    report = prepare_dataset(
        tiny_ucf_root, out, short_side=SHORT_SIDE, output_format="parquet", progress=False
    )
    assert report.written == [] and {p.name for p in report.shards} == {
        "train-00000-of-00001.parquet",
        "test-00000-of-00001.parquet",
    }
    loaded = datasets.load_dataset(str(out))
    assert {name: rows["video"] for name, rows in load_video_dataset(out).items()} == {
        name: rows["video"] for name, rows in loaded.items()
    }  # what the training commands open (--dataset OUT)
    folder = load_video_dataset(out / "videos")
    assert {name: len(rows) for name, rows in loaded.items()} == {
        name: len(rows) for name, rows in folder.items()
    }
    assert loaded["train"].features["label"].names == folder["train"].features["label"].names
    assert isinstance(loaded["train"].features["video"], datasets.Video)
    assert loaded["train"]["label"] == folder["train"]["label"]
    assert loaded["train"][3]["video"]["path"] == str(
        Path(video_path(folder["train"][3]["video"])).relative_to(out / "videos")
    )
    from_bytes, from_files = (
        VideoClipDataset(rows, SingleClipSampler(num_frames=4), frame_size=None, skip_corrupt=False)
        for rows in (loaded["train"], folder["train"])
    )
    clip = from_bytes[3]["views"]["clip"]
    assert clip.shape == (4, SHORT_SIDE, 44, 3)
    np.testing.assert_array_equal(clip, from_files[3]["views"]["clip"])  # same row, same sampled frames


def test_frame_size_none_decodes_at_the_prepared_size(prepared):
    rows = load_video_dataset(prepared)["train"]
    clips = VideoClipDataset(rows, SingleClipSampler(num_frames=4), frame_size=None, skip_corrupt=False)
    assert clips[0]["views"]["clip"].shape == (4, SHORT_SIDE, 44, 3)
    same = VideoClipDataset(
        rows, SingleClipSampler(num_frames=4), frame_size=(SHORT_SIDE, 44), skip_corrupt=False
    )
    np.testing.assert_array_equal(same[0]["views"]["clip"], clips[0]["views"]["clip"])
