"""Opening the dataset a command names: a folder in one of the known layouts, or a saved DatasetDict.

`DataArguments` is what every command (pretrain, probe, finetune, retrieve, cluster) takes for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import datasets

DATASET_FORMATS = ("auto", "ucf101", "hmdb51", "kinetics400", "diving48", "folder", "saved", "parquet")
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
    path: str | Path, dataset_format: str = "auto", split: int = 1
) -> datasets.DatasetDict:
    """The `train` / `test` splits of a video dataset (columns: video path, label, video_frames...).

    dataset_format: one of DATASET_FORMATS; "auto" recognises UCF-101, HMDB-51 and saved DatasetDicts.
    split: the official split of UCF-101 / HMDB-51 (1, 2 or 3; the seeds use 1).
    """
    from . import loaders

    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset folder {root} does not exist (pass the dataset root with --dataset)"
        )
    if dataset_format not in DATASET_FORMATS:
        raise ValueError(f"dataset format must be one of {DATASET_FORMATS}, got '{dataset_format}'")
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
    return splits


@dataclass
class DataArguments:
    """The dataset of a run (`load_video_dataset`)."""

    dataset: str | None = field(
        default=None, metadata={"help": "dataset root folder (or a saved DatasetDict)", "metavar": "DIR"}
    )
    dataset_format: str = field(
        default="auto",
        metadata={
            "help": "layout of --dataset; auto recognises UCF-101, HMDB-51, saved DatasetDicts and prepared Parquet",
            "choices": DATASET_FORMATS,
        },
    )
    split: int = field(default=1, metadata={"help": "official split of UCF-101 / HMDB-51"})

    def load(self) -> datasets.DatasetDict:
        if not self.dataset:
            raise ValueError("--dataset is required (on the command line or in --config)")
        return load_video_dataset(self.dataset, self.dataset_format, self.split)

    @property
    def name(self) -> str:
        return Path(self.dataset).name if self.dataset else ""


def class_names(split: datasets.Dataset, label_column: str = "label") -> list[str]:
    """Names of the label classes (the ClassLabel's names, or the ids as strings)."""
    feature = split.features[label_column]
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    return [str(i) for i in range(max(split[label_column]) + 1)]
