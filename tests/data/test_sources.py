"""Any `datasets` object with a video column is a dataset of the commands and the Python API: the output of
`load_dataset("videofolder")`, a Hub dataset id (rows holding the files' bytes), path strings under another
column name; what is not usable is a one-line error naming the columns found and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest
from datasets.packaged_modules.parquet.parquet import Parquet

from hf_vssl.data.clip_dataset import VideoClipDataset
from hf_vssl.data.decoding import probe_video, video_path
from hf_vssl.data.loaders import CACHE_ENV, load_ucf101
from hf_vssl.data.samplers import SingleClipSampler
from hf_vssl.data.sources import DataArguments, as_video_dataset, load_video_dataset

SIZE = (32, 40)


def _by_name(split: datasets.Dataset, column: str) -> dict[str, object]:
    return {Path(video_path(cell)).name: value for cell, value in zip(split["video"], split[column])}


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """A private Hugging Face datasets cache, where the video metadata caches go by default too."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets")
    monkeypatch.delenv(CACHE_ENV)
    return tmp_path / "hf_datasets"


def test_videofolder_output_is_cast_probed_and_decodes(tiny_ucf_root, tiny_videofolder, hf_cache):
    raw = datasets.load_dataset("videofolder", data_dir=str(tiny_videofolder))
    assert raw["train"].features["video"].decode  # datasets 5 would decode these with torchcodec
    dataset = as_video_dataset(raw)
    # probed once: the frame counts sit in the metadata cache of the Hugging Face cache, not in the data
    caches = {path.name.split("-")[0] for path in (hf_cache / "hf_vssl" / "video_metadata").glob("*.json")}
    assert caches == {"train", "test"} and not list(tiny_videofolder.rglob("*.json"))
    reference = load_ucf101(tiny_ucf_root)
    for split in ("train", "test"):
        rows = dataset[split]
        assert rows.features["video"] == datasets.Video(decode=False)
        classes = {name: rows.features["label"].int2str(i) for name, i in _by_name(rows, "label").items()}
        expected = reference[split].features["label"].int2str
        assert classes == {name: expected(i) for name, i in _by_name(reference[split], "label").items()}
        for column in ("video_frames", "height"):  # probed, as the loaders do
            assert _by_name(rows, column) == _by_name(reference[split], column)
    item = VideoClipDataset(
        dataset["train"], SingleClipSampler(num_frames=4), frame_size=SIZE, skip_corrupt=False
    )[0]
    assert item["views"]["clip"].shape == (4, *SIZE, 3)
    # the same through --dataset DIR --dataset-format hub (datasets.load_dataset on the folder)
    loaded = load_video_dataset(tiny_videofolder, "hub")
    assert loaded["test"]["video"] == dataset["test"]["video"]
    assert loaded["test"]["video_frames"] == dataset["test"]["video_frames"]


def _cache_as_if_downloaded(repo_id: str, parquet: Path, cache: Path) -> None:
    """What `load_dataset(repo_id)` leaves in the datasets cache after an online load: the prepared Arrow
    files under `<owner>___<name>/<config>/<version>/<hash>`, which an offline load reads (the test has no
    network; this stands in for the download)."""
    owner, name = repo_id.split("/")
    builder = Parquet(data_files={"train": str(parquet), "test": str(parquet)}, dataset_name=name)
    builder.download_and_prepare()
    target = cache / f"{owner}___{name}" / "default" / "0.0.0" / "0123456789abcdef"
    target.parent.mkdir(parents=True)
    shutil.move(builder.cache_dir, target)


def test_hub_id_with_bytes_rows_loads_and_decodes_from_memory(tiny_ucf_root, hf_cache, tmp_path, monkeypatch):
    source = load_ucf101(tiny_ucf_root)["test"].select(range(4))
    paths = [video_path(cell) for cell in source["video"]]
    rows = datasets.Dataset.from_dict(
        {
            "video": [{"bytes": Path(p).read_bytes(), "path": Path(p).name} for p in paths],
            "label": source["label"],
        },
        features=datasets.Features({"video": datasets.Video(), "label": source.features["label"]}),
    )
    rows.to_parquet(str(tmp_path / "data.parquet"))
    _cache_as_if_downloaded("hf-vssl/tiny-videos", tmp_path / "data.parquet", hf_cache)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # no network: datasets reads its cache

    dataset = DataArguments(dataset="hf-vssl/tiny-videos").load()
    train = dataset["train"]
    assert train.features["video"] == datasets.Video(decode=False)  # the decoding Video was cast
    assert "video_frames" not in train.column_names  # bytes rows: probed from memory when sampled
    clips = VideoClipDataset(train, SingleClipSampler(num_frames=4), frame_size=SIZE, skip_corrupt=False)
    from_files = VideoClipDataset(
        source, SingleClipSampler(num_frames=4), frame_size=SIZE, skip_corrupt=False
    )
    np.testing.assert_array_equal(clips[2]["views"]["clip"], from_files[2]["views"]["clip"])

    with pytest.raises(ValueError, match=r"datasets\.load_dataset\('hf-vssl/absent'\) failed .*--dataset"):
        load_video_dataset("hf-vssl/absent")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_video_dataset(tmp_path / "no-such-folder")


def test_another_video_column_and_unusable_columns_are_one_line_errors(tiny_ucf_root, tmp_path):
    paths = [video_path(cell) for cell in load_ucf101(tiny_ucf_root)["test"]["video"][:3]]
    saved = tmp_path / "saved"
    datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"clip": paths, "label": [0, 1, 0], "frames": [1, 2, 3]})
    ).save_to_disk(str(saved))
    dataset = DataArguments(dataset=str(saved), video_column="clip").load()
    assert dataset["train"].features["video"] == datasets.Video(decode=False)
    assert dataset["train"]["video_frames"] == [probe_video(p).video_frames for p in paths]
    with pytest.raises(
        ValueError,
        match=r"no video column 'video'; its columns are \['clip', 'label', 'frames'\].*--video-column",
    ):
        load_video_dataset(saved)
    with pytest.raises(
        ValueError, match=r"column 'video' of split 'train' holds Value\('int64'\), not videos"
    ):
        load_video_dataset(saved, video_column="frames")
    with pytest.raises(TypeError, match="DatasetDict"):
        as_video_dataset(datasets.load_from_disk(str(saved))["train"])
