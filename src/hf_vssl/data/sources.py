"""Opening the dataset a command names: a folder in one of the known layouts, a saved DatasetDict, prepared
Parquet shards, or anything `datasets.load_dataset` reads (a Hub dataset id, a `videofolder` tree); and
`as_video_dataset`, which turns any `DatasetDict` with a video column into what training and evaluation read.

`DataArguments` is what every command (pretrain, probe, finetune, retrieve, cluster) takes for it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import datasets

if TYPE_CHECKING:
    from .streaming import ParquetStream

DATASET_FORMATS = ("auto", "ucf101", "hmdb51", "kinetics400", "diving48", "folder", "saved", "parquet", "hub")
# `name` or `owner/name`: what --dataset is taken for (a Hub dataset id) when it is not a folder
_HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")
# the layouts whose split files or folders name videos by paths relative to the root
_RELATIVE_LAYOUTS = ("ucf101", "hmdb51", "kinetics400", "diving48", "folder")
# files or folders that identify a layout when --dataset-format is auto
_MARKERS = (
    ("dataset_dict.json", "saved"),
    ("ucfTrainTestlist", "ucf101"),
    ("testTrainMulti_7030_splits", "hmdb51"),
)


def detect_format(root: Path) -> str:
    """The layout of `root`: a saved DatasetDict, UCF-101, HMDB-51, Parquet shards in `data/` (`hf-vssl
    prepare --format parquet`), else a plain class-folder tree."""
    for marker, name in _MARKERS:
        if (root / marker).exists():
            return name
    if any((root / "data").glob("*.parquet")):
        return "parquet"
    return "folder"


def load_video_dataset(
    path: str | Path,
    dataset_format: str = "auto",
    split: int = 1,
    *,
    video_column: str = "video",
    num_workers: int | None = None,
) -> datasets.DatasetDict:
    """The splits of a video dataset, as `as_video_dataset` gives them (columns: video, label, video_frames...).

    path: a dataset folder, or a Hub dataset id (`owner/name`, read with `datasets.load_dataset`).
    dataset_format: one of DATASET_FORMATS; "auto" recognises UCF-101, HMDB-51, saved DatasetDicts, prepared
        Parquet and class-folder trees, and takes a path that is no folder for a Hub id; "hub" hands any path
        to `datasets.load_dataset` (e.g. a `videofolder` tree with `<split>/<class>/<video>`).
    split: the official split of UCF-101 / HMDB-51 (1, 2 or 3; the papers use 1).
    video_column: the column holding the videos when it is not `video` (renamed to `video`).
    """
    from . import loaders

    if dataset_format not in DATASET_FORMATS:
        raise ValueError(f"dataset format must be one of {DATASET_FORMATS}, got '{dataset_format}'")
    root = Path(path)
    if dataset_format == "hub" or (
        dataset_format == "auto" and not root.exists() and _HUB_ID.fullmatch(str(path))
    ):
        return as_video_dataset(_load_hub(str(path)), video_column=video_column, num_workers=num_workers)
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset folder {root} does not exist (pass the dataset root or a Hub dataset id with --dataset)"
        )
    dataset_format = detect_format(root) if dataset_format == "auto" else dataset_format
    if dataset_format == "saved":
        splits = datasets.load_from_disk(str(root))
    elif dataset_format == "parquet":  # data/<split>-0000i-of-0000n.parquet, the Hub's layout
        shards = sorted((root / "data").glob("*.parquet"))
        files = {
            name: str(root / "data" / f"{name}-*.parquet") for name in {p.name.split("-")[0] for p in shards}
        }
        if not files:
            raise FileNotFoundError(
                f"no Parquet shards in {root / 'data'} (write them with hf-vssl prepare --format parquet)"
            )
        splits = datasets.load_dataset("parquet", data_files=files)
    elif dataset_format == "ucf101":
        splits = loaders.load_ucf101(root, split=split)
    elif dataset_format == "hmdb51":
        splits = loaders.load_hmdb51(root, split=split)
    elif dataset_format == "kinetics400":
        splits = loaders.load_kinetics400(root)
    elif dataset_format == "diving48":
        splits = loaders.load_diving48(root)
    else:
        splits = loaders.load_video_folder(root)
    if not isinstance(splits, datasets.DatasetDict) or "train" not in splits:
        raise ValueError(f"{root} ({dataset_format}) has no 'train' split; found {list(splits)}")
    if dataset_format in _RELATIVE_LAYOUTS:
        check_inside_root(splits, root)
    return as_video_dataset(splits, video_column=video_column, num_workers=num_workers)


def check_inside_root(splits: datasets.DatasetDict, root: Path) -> None:
    """Refuse a listing whose paths leave the dataset root (`../` in a split file): the run would read
    files the dataset does not hold. Checked on the paths as written, so a root whose videos are
    symbolic links to another disk is fine. Listed names left out as missing are checked too."""
    base = os.path.normpath(os.path.abspath(root))
    report = getattr(splits, "load_report", None)
    for name, split in splits.items():
        paths = [cell["path"] if isinstance(cell, dict) else cell for cell in split["video"]]
        paths += report.missing.get(name, []) if report is not None else []
        for path in paths:
            if path and os.path.commonpath([base, os.path.normpath(os.path.join(base, path))]) != base:
                raise ValueError(
                    f"split '{name}' of {root} names a video outside the dataset root: '{path}'; "
                    "list videos by paths inside the root (no '../') or move them under it"
                )


def _load_hub(name: str) -> datasets.DatasetDict:
    """`datasets.load_dataset(name)`: a Hub dataset id, or a folder datasets reads; a failure in one line."""
    try:
        splits = datasets.load_dataset(name)
    except Exception as err:  # datasets raises many types (offline, not found, gated, no data files...)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"datasets.load_dataset('{name}') failed ({type(err).__name__}: {reason}); pass a dataset folder or "
            "a Hub dataset id you can reach (log in with `hf auth login` for a gated one) with --dataset"
        ) from err
    if "train" not in splits:
        raise ValueError(f"the dataset '{name}' has no 'train' split; found {list(splits)}")
    return splits


def as_video_dataset(
    dataset: datasets.DatasetDict, *, video_column: str = "video", num_workers: int | None = None
) -> datasets.DatasetDict:
    """Any `DatasetDict` with a video column, as training and evaluation read it: the videos in a column
    `video` of `Video(decode=False)` cells (paths, or the files' bytes decoded from memory by PyAV), the flow
    videos (if any) likewise in `flow`, and the metadata columns probed when absent (`with_video_metadata`).

    Accepts the loaders' output, `load_dataset("videofolder", data_dir=...)` (its decoding `Video` column is
    cast to decode=False: datasets 5 would decode with torchcodec), a Hub dataset, a column of path strings.
    video_column: the column holding the videos when it is not `video` (it is renamed to `video`).
    A split without a usable video column is an error naming the columns it has and the fix.
    """
    from .loaders import with_video_metadata

    if not isinstance(dataset, datasets.DatasetDict):
        raise TypeError(
            f"expected a datasets.DatasetDict of splits, got {type(dataset).__name__}; "
            "load it without split= (or wrap a Dataset: DatasetDict(train=dataset))"
        )
    result = {}
    for name, split in dataset.items():
        columns = split.column_names
        if video_column not in columns:
            raise ValueError(
                f"split '{name}' has no video column '{video_column}'; its columns are {columns}: name the one "
                "holding the videos with --video-column (as_video_dataset(..., video_column=...))"
            )
        if video_column != "video":
            if "video" in columns:
                raise ValueError(
                    f"split '{name}' has a column 'video' besides the video column '{video_column}'; "
                    "remove or rename it (dataset.remove_columns('video'))"
                )
            split = split.rename_column(video_column, "video")
        for column in ("video", "flow"):
            split = _video_feature(split, name, column)
        result[name] = with_video_metadata(split, num_workers=num_workers)
    videos = datasets.DatasetDict(result)
    if hasattr(dataset, "load_report"):  # what the loaders left out
        videos.load_report = dataset.load_report
    return videos


def _video_feature(split: datasets.Dataset, name: str, column: str) -> datasets.Dataset:
    """`column` of `split` as `Video(decode=False)`: a decoding Video or a column of path strings is cast."""
    feature = split.features.get(column)
    if feature is None or (isinstance(feature, datasets.Video) and not feature.decode):
        return split
    if isinstance(feature, datasets.Video) or (
        isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")
    ):
        return split.cast_column(column, datasets.Video(decode=False))
    raise ValueError(
        f"column '{column}' of split '{name}' holds {feature}, not videos (file paths or Video cells); "
        + ("name the video column with --video-column" if column == "video" else "rename or remove it")
    )


@dataclass
class DataArguments:
    """The dataset of a run (`load_video_dataset`)."""

    dataset: str | None = field(
        default=None,
        metadata={
            "help": "dataset root folder (a known layout, a saved DatasetDict, prepared Parquet) or a Hub dataset id",
            "metavar": "DIR_OR_ID",
        },
    )
    dataset_format: str = field(
        default="auto",
        metadata={
            "help": "layout of --dataset; auto recognises UCF-101, HMDB-51, saved DatasetDicts, prepared Parquet "
            "and class folders, and takes a name that is no folder for a Hub id; hub: datasets.load_dataset",
            "choices": DATASET_FORMATS,
        },
    )
    split: int = field(default=1, metadata={"help": "official split of UCF-101 / HMDB-51"})
    video_column: str = field(
        default="video", metadata={"help": "the dataset column holding the videos (paths or Video cells)"}
    )

    def load(self) -> datasets.DatasetDict:
        if not self.dataset:
            raise ValueError("--dataset is required (on the command line or in --config)")
        return load_video_dataset(
            self.dataset, self.dataset_format, self.split, video_column=self.video_column
        )

    def open_stream(self) -> ParquetStream:
        """The train split's Parquet shards as a stream (`--streaming`, `hf_vssl.data.streaming`)."""
        from .streaming import open_stream

        if not self.dataset:
            raise ValueError("--dataset is required (on the command line or in --config)")
        return open_stream(self.dataset, video_column=self.video_column, dataset_format=self.dataset_format)

    @property
    def name(self) -> str:
        return Path(self.dataset).name if self.dataset else ""


def class_names(split: datasets.Dataset, label_column: str = "label") -> list[str]:
    """Names of the label classes (the ClassLabel's names, or the ids as strings)."""
    feature = split.features[label_column]
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    return [str(i) for i in range(max(split[label_column]) + 1)]
