"""Loaders on tiny trees of real video files for every layout: split membership and label names exact."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import datasets
import numpy as np
import pytest
from datasets.table import embed_table_storage

from hf_vssl.data.decoding import video_path
from hf_vssl.data.encoding import write_video
from hf_vssl.data.flow import flow_path_for
from hf_vssl.data.loaders import (
    CACHE_ENV,
    CACHE_FILENAME,
    VideoMetadataCache,
    load_diving48,
    load_hmdb51,
    load_kinetics400,
    load_ucf101,
    load_video_folder,
)
from hf_vssl.data.synthetic import PRESETS

FRAMES = np.zeros((6, 16, 16, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def video_bytes(tmp_path_factory) -> bytes:
    """One real 6-frame mp4, copied to every path of the fake trees."""
    return write_video(tmp_path_factory.mktemp("one") / "v.mp4", FRAMES + 90).read_bytes()


def _names(split: datasets.Dataset) -> list[tuple[str, str]]:
    """(file name, class name) of each row."""
    label = split.features["label"]
    return sorted(
        (Path(video_path(v)).name, label.int2str(int(i))) for v, i in zip(split["video"], split["label"])
    )


def test_ucf101_split_membership_and_labels(tiny_ucf_root):
    data = load_ucf101(tiny_ucf_root, split=2)
    assert set(data) == {"train", "test"}
    assert data["train"].features["label"].names == list(PRESETS["tiny"].classes)
    assert len(data["train"]) == 24 and len(data["test"]) == 12
    assert all("_g02_" in name for name, _ in _names(data["test"]))
    assert not any("_g02_" in name for name, _ in _names(data["train"]))
    for name, class_name in _names(data["train"]) + _names(data["test"]):
        assert name.startswith(f"v_{class_name}_")  # label from the class folder
    row = data["test"][0]
    assert (
        40 <= row["video_frames"] <= 48 and (row["height"], row["width"]) == (64, 80) and row["fps"] == 25.0
    )
    assert data.load_report.num_missing == 0 and "flow" not in data["train"].column_names
    # the column says it holds videos (push_to_hub / to_parquet carry it), and never decodes through torchcodec
    assert data["train"].features["video"] == datasets.Video(decode=False)
    assert row["video"] == {"bytes": None, "path": str(tiny_ucf_root / video_path(row["video"]))}


def test_ucf101_labels_come_from_folders_not_numbers(tmp_path, video_bytes):
    root = tmp_path / "ucf"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Archery\n2 Bowling\n")
    for cls, group in (("Archery", 1), ("Archery", 8), ("Bowling", 1), ("Bowling", 9)):
        (root / cls).mkdir(exist_ok=True)
        (root / cls / f"v_{cls}_g{group:02d}_c01.avi").write_bytes(video_bytes)
    # a wrong 1-based number in the train list must not change the label
    (lists / "trainlist01.txt").write_text(
        "Archery/v_Archery_g08_c01.avi 2\nBowling/v_Bowling_g09_c01.avi 2\n"
    )
    (lists / "testlist01.txt").write_text("Archery/v_Archery_g01_c01.avi\nBowling/v_Bowling_g01_c01.avi\n")
    data = load_ucf101(root, split=1)
    assert _names(data["train"]) == [
        ("v_Archery_g08_c01.avi", "Archery"),
        ("v_Bowling_g09_c01.avi", "Bowling"),
    ]
    assert _names(data["test"]) == [
        ("v_Archery_g01_c01.avi", "Archery"),
        ("v_Bowling_g01_c01.avi", "Bowling"),
    ]
    with pytest.raises(ValueError, match="split must be"):
        load_ucf101(root, split=4)


def test_hmdb51_uses_membership_codes(tmp_path, video_bytes):
    root = tmp_path / "hmdb"
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for cls in ("wave", "brush_hair"):
        (root / cls).mkdir()
        for i in range(3):
            (root / cls / f"{cls}_{i}.avi").write_bytes(video_bytes)
        (splits / f"{cls}_test_split1.txt").write_text(f"{cls}_0.avi 1 \n{cls}_1.avi 2 \n{cls}_2.avi 0 \n")
        (splits / f"{cls}_test_split2.txt").write_text(f"{cls}_0.avi 2\n{cls}_1.avi 1\n{cls}_2.avi 1\n")
    data = load_hmdb51(root, split=1)
    assert data["train"].features["label"].names == ["brush_hair", "wave"]  # sorted class names
    assert _names(data["train"]) == [("brush_hair_0.avi", "brush_hair"), ("wave_0.avi", "wave")]
    assert _names(data["test"]) == [("brush_hair_1.avi", "brush_hair"), ("wave_1.avi", "wave")]  # 0 = unused
    assert len(load_hmdb51(root, split=2)["train"]) == 4


def test_kinetics_reports_missing_videos(tmp_path, video_bytes, caplog):
    root = tmp_path / "k400"
    (root / "annotations").mkdir(parents=True)
    header = ["label", "youtube_id", "time_start", "time_end", "split"]
    rows = {
        "train": [("abseiling", "aaa", 10, 20), ("zumba", "bbb", 0, 10), ("zumba", "gone", 5, 15)],
        "validate": [("abseiling", "ccc", 1, 11), ("zumba", "lost", 3, 13)],
    }
    for split, entries in rows.items():
        with (root / "annotations" / f"{split}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for label, yid, start, end in entries:
                writer.writerow([label, yid, start, end, split])
                if yid not in ("gone", "lost"):
                    folder = root / "videos" / split / label
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / f"{yid}_{start:06d}_{end:06d}.mp4").write_bytes(video_bytes)
    with caplog.at_level("WARNING"):
        data = load_kinetics400(root)
    assert set(data) == {"train", "validation"}
    assert data["train"].features["label"].names == ["abseiling", "zumba"]
    assert _names(data["train"]) == [
        ("aaa_000010_000020.mp4", "abseiling"),
        ("bbb_000000_000010.mp4", "zumba"),
    ]
    assert _names(data["validation"]) == [("ccc_000001_000011.mp4", "abseiling")]
    assert data.load_report.num_missing == 2
    assert data.load_report.missing["train"] == ["gone_000005_000015"]
    assert "missing" in caplog.text


def test_diving48_json_and_vocab(tmp_path, video_bytes):
    root = tmp_path / "diving"
    (root / "rgb").mkdir(parents=True)
    train = [
        {"vid_name": "v1_00001", "label": 0, "start_frame": 0, "end_frame": 5},
        {"vid_name": "v2_00002", "label": 2, "start_frame": 0, "end_frame": 5},
    ]
    test = [{"vid_name": "v3_00003", "label": 1, "start_frame": 0, "end_frame": 5}]
    (root / "Diving48_V2_train.json").write_text(json.dumps(train))
    (root / "Diving48_V2_test.json").write_text(json.dumps(test))
    (root / "Diving48_vocab.json").write_text(
        json.dumps(
            [
                ["Back", "15som", "05Twis", "FREE"],
                ["Back", "15som", "15Twis", "FREE"],
                ["Forward", "25som", "NoTwis", "PIKE"],
            ]
        )
    )
    for entry in train + test:
        (root / "rgb" / f"{entry['vid_name']}.mp4").write_bytes(video_bytes)
    data = load_diving48(root)
    assert data["train"].features["label"].names[2] == "Forward_25som_NoTwis_PIKE"
    assert _names(data["train"]) == [
        ("v1_00001.mp4", "Back_15som_05Twis_FREE"),
        ("v2_00002.mp4", "Forward_25som_NoTwis_PIKE"),
    ]
    assert _names(data["test"]) == [("v3_00003.mp4", "Back_15som_15Twis_FREE")]


def test_video_folder_splits_and_flow_column(tmp_path, video_bytes):
    root = tmp_path / "folder"
    for split, cls, name in (
        ("train", "cats", "a.mp4"),
        ("train", "dogs", "b.mp4"),
        ("val", "dogs", "c.mp4"),
    ):
        (root / split / cls).mkdir(parents=True, exist_ok=True)
        (root / split / cls / name).write_bytes(video_bytes)
    flow_path_for(root / "train" / "cats" / "a.mp4").write_bytes(video_bytes)  # a flow video next to one RGB
    data = load_video_folder(root)
    assert set(data) == {"train", "validation"}
    assert _names(data["train"]) == [("a.mp4", "cats"), ("b.mp4", "dogs")]  # the flow video is not a sample
    flow = {"bytes": None, "path": str(flow_path_for(root / "train" / "cats" / "a.mp4"))}
    assert data["train"]["flow"] == [flow, None] and data["train"].features["flow"] == datasets.Video(
        decode=False
    )
    assert _names(data["validation"]) == [("c.mp4", "dogs")]


def test_metadata_cache_makes_reload_instant_and_lives_in_the_hf_cache(tmp_path, video_bytes, monkeypatch):
    root = tmp_path / "cached"
    (root / "x").mkdir(parents=True)
    (root / "x" / "a.mp4").write_bytes(video_bytes)
    (root / "x" / "broken.mp4").write_bytes(b"not a video")
    monkeypatch.delenv(CACHE_ENV)  # the default place: the datasets cache, wherever HF_DATASETS_CACHE puts it
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets")
    for folder in (root, root / "x"):  # a read-only data root (root itself ignores the bits, hence the check)
        folder.chmod(0o555)
    try:
        first = load_video_folder(root)
        assert sorted(p.name for p in root.rglob("*")) == [
            "a.mp4",
            "broken.mp4",
            "x",
        ]  # nothing written there
    finally:
        for folder in (root, root / "x"):
            folder.chmod(0o755)
    assert first.load_report.num_unreadable == 1 and len(first["train"]) == 1
    (cache_file,) = (tmp_path / "hf_datasets" / "hf_vssl" / "video_metadata").glob("cached-*.json")
    cache = json.loads(cache_file.read_text())
    assert cache["x/a.mp4"]["video_frames"] == 6 and "error" in cache["x/broken.mp4"]
    # a second load reads the cache: replace the video by garbage with the same size and time stamp
    video = root / "x" / "a.mp4"
    stat = video.stat()
    video.write_bytes(b"\0" * stat.st_size)
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert load_video_folder(root)["train"][0]["video_frames"] == 6
    # a changed file (new size and time) is probed again
    write_video(video, np.concatenate([FRAMES, FRAMES]) + 90)
    assert load_video_folder(root)["train"][0]["video_frames"] == 12


def test_metadata_cache_folder_override_and_the_old_cache_in_the_root(tmp_path, video_bytes, monkeypatch):
    root = tmp_path / "old"
    (root / "x").mkdir(parents=True)
    video = root / "x" / "a.mp4"
    video.write_bytes(video_bytes)
    stat = video.stat()
    old = {"x/a.mp4": {"video_frames": 5, "fps": 25.0, "width": 16, "height": 16}}
    old["x/a.mp4"] |= {"size": stat.st_size, "mtime": stat.st_mtime}
    (root / CACHE_FILENAME).write_text(json.dumps(old))  # an older version's cache: read, not rewritten
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "override"))
    assert VideoMetadataCache(root).path.parent == tmp_path / "override"
    assert load_video_folder(root)["train"][0]["video_frames"] == 5  # from the old cache: no probe
    (root / "x" / "b.mp4").write_bytes(video_bytes)
    assert load_video_folder(root)["train"]["video_frames"] == [5, 6]
    assert json.loads((root / CACHE_FILENAME).read_text()) == old
    assert set(json.loads(VideoMetadataCache(root).path.read_text())) == {
        "x/a.mp4",
        "x/b.mp4",
    }  # carried over


def test_wrong_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"classInd\.txt"):
        load_ucf101(tmp_path)
    with pytest.raises(FileNotFoundError, match="split files"):
        load_hmdb51(tmp_path)


def test_ucf101_extra_labels_file_adds_class_label_columns(tmp_path, video_bytes):
    root = tmp_path / "ucf"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 Archery\n")
    (root / "Archery").mkdir()
    for group in (1, 2):
        (root / "Archery" / f"v_Archery_g0{group}_c01.avi").write_bytes(video_bytes)
    (lists / "trainlist01.txt").write_text("Archery/v_Archery_g02_c01.avi 1\n")
    (lists / "testlist01.txt").write_text("Archery/v_Archery_g01_c01.avi\n")
    videos = {"Archery/v_Archery_g01_c01.avi": 1, "Archery/v_Archery_g02_c01.avi": 0}
    (lists / "extra_labels.json").write_text(
        json.dumps({"scene": {"names": ["indoor", "outdoor"], "videos": videos}})
    )
    data = load_ucf101(root, num_workers=1)
    assert data["train"].features["scene"] == datasets.ClassLabel(names=["indoor", "outdoor"])
    assert data["train"]["scene"] == [0] and data["test"]["scene"] == [1]
    del videos["Archery/v_Archery_g01_c01.avi"]
    (lists / "extra_labels.json").write_text(
        json.dumps({"scene": {"names": ["indoor", "outdoor"], "videos": videos}})
    )
    with pytest.raises(
        ValueError, match=r"'scene' has no valid label for listed video 'Archery/v_Archery_g01_c01\.avi'"
    ):
        load_ucf101(root, num_workers=1)


def test_the_video_column_travels_with_to_parquet_and_push_to_hub(tiny_ucf_root, tmp_path):
    rows = load_ucf101(tiny_ucf_root)["test"].select(range(2))
    rows.to_parquet(str(tmp_path / "test.parquet"))
    copy = datasets.Dataset.from_parquet(str(tmp_path / "test.parquet"), cache_dir=str(tmp_path / "cache"))
    assert copy.features["video"] == datasets.Video(decode=False) and copy["video"] == rows["video"]
    # push_to_hub embeds the files of Video columns in its shards this way: rows holding the files' bytes
    shard = rows.with_format("arrow").map(embed_table_storage, batched=True, keep_in_memory=True)
    embedded = shard.with_format(None)[1]["video"]
    assert embedded["bytes"] == Path(video_path(rows[1]["video"])).read_bytes()
