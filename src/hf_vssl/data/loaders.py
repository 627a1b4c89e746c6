"""Dataset loaders: UCF-101, HMDB-51, Kinetics-400, Diving-48 V2 and class-per-folder trees -> `DatasetDict`.

Every split has the columns `video` (`Video(decode=False)`: the absolute path), `label` (`ClassLabel` with the
class names), `video_frames`, `fps`, `width`, `height` (probed once with PyAV and cached in the Hugging Face
cache, see `VideoMetadataCache`) and, when optical flow was extracted (`hf-vssl extract-flow`), `flow` (the flow
video, `Video(decode=False)` too). `Video(decode=False)` cells are {"bytes": None, "path": ...} dicts (an Arrow
struct<bytes: binary, path: string>), so `push_to_hub` / `to_parquet` know the column holds videos; read them
with `hf_vssl.data.decoding.video_path` / `video_source`. A UCF-101-layout
dataset may carry more labels per video in `ucfTrainTestlist/extra_labels.json` (the synthetic two-label
presets do): each becomes one more `ClassLabel` column.

Listed videos that are missing or unreadable are left out, logged in one warning per split and counted in
the returned dict's `load_report`; a listing where nothing is found is an error (wrong root).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import pyarrow.compute as pc

from .decoding import VideoDecodeError, VideoInfo, probe_video, video_path
from .flow import flow_path_for, is_flow_video

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v")
# the metadata cache older versions wrote into the data root: still read, never written
CACHE_FILENAME = ".hf_vssl_meta.json"
# beside UCF-101's split files: {column: {"names": [class names], "videos": {listed path: class index}}}
EXTRA_LABELS_FILE = "extra_labels.json"
# folder of the metadata caches, instead of `metadata_cache_dir()`'s default in the Hugging Face cache
CACHE_ENV = "HF_VSSL_CACHE"
# the probed metadata columns every loader writes
METADATA_FEATURES = {
    "video_frames": datasets.Value("int32"),
    "fps": datasets.Value("float32"),
    "width": datasets.Value("int32"),
    "height": datasets.Value("int32"),
}


@dataclass
class LoadReport:
    """What a loader left out, per split: listed videos not found, and videos FFmpeg cannot read."""

    missing: dict[str, list[str]] = field(default_factory=dict)
    unreadable: dict[str, list[str]] = field(default_factory=dict)

    @property
    def num_missing(self) -> int:
        return sum(len(paths) for paths in self.missing.values())

    @property
    def num_unreadable(self) -> int:
        return sum(len(paths) for paths in self.unreadable.values())


def metadata_cache_dir() -> Path:
    """Where the video metadata caches live: `$HF_VSSL_CACHE` when set, else `hf_vssl/video_metadata` in the
    datasets cache (`$HF_DATASETS_CACHE`, by default `$HF_HOME/datasets`, as `datasets` resolves it), so a
    read-only or shared data root is never written to."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(datasets.config.HF_DATASETS_CACHE) / "hf_vssl" / "video_metadata"


class VideoMetadataCache:
    """Probed metadata of the videos under `root`, so a second load does not open any video.

    Kept in `metadata_cache_dir()` in one JSON file per root (named by a digest of its absolute path), keyed by
    each video's path relative to the root and valid while the file keeps its size and modification time (a
    re-encoded or replaced video is probed again). A `.hf_vssl_meta.json` that older versions wrote into the
    root is read too, never written.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:16]
        self.path = metadata_cache_dir() / f"{self.root.name or 'root'}-{digest}.json"
        self.entries: dict[str, dict] = self._read(self.root / CACHE_FILENAME) | self._read(self.path)
        self._dirty = False

    @staticmethod
    def _read(path: Path) -> dict[str, dict]:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    def get(self, path: Path) -> dict:
        """{"video_frames", "fps", "width", "height"} or {"error": reason} for `path`, probing it if needed."""
        key = os.path.relpath(path, self.root)
        try:
            stat = path.stat()
        except OSError as err:
            return {"error": f"cannot read it ({err.strerror})"}
        entry = self.entries.get(key)
        current = entry is not None and entry["size"] == stat.st_size and entry["mtime"] == stat.st_mtime
        if current and ("video_frames" in entry or "error" in entry):  # older caches named it num_frames
            return entry
        try:
            entry = self._entry(probe_video(path))
        except VideoDecodeError as err:
            entry = {"error": err.reason}
        self._record(key, stat, entry)
        return entry

    def put(self, path: Path, info: VideoInfo) -> None:
        """Record the metadata of a video just written (`hf-vssl prepare`), so no load has to probe it."""
        self._record(os.path.relpath(path, self.root), path.stat(), self._entry(info))

    @staticmethod
    def _entry(info: VideoInfo) -> dict:
        return {column: getattr(info, column) for column in METADATA_FEATURES}

    def _record(self, key: str, stat: os.stat_result, entry: dict) -> None:
        self.entries[key] = entry | {"size": stat.st_size, "mtime": stat.st_mtime}
        self._dirty = True

    def save(self) -> None:
        """Write the cache (atomically: concurrent loads of one root each replace it whole)."""
        if not self._dirty:
            return
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.entries))
            os.replace(tmp, self.path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            logger.warning(
                "cannot write the video metadata cache %s (%s); the next load will probe the videos again "
                "(set %s to a writable folder)",
                self.path,
                err,
                CACHE_ENV,
            )
            return
        self._dirty = False


def _probe_all(cache: VideoMetadataCache, paths: list[Path], num_workers: int) -> list[dict]:
    """`cache.get` of every path, in threads (PyAV releases the GIL while opening files)."""
    with ThreadPoolExecutor(max(1, num_workers)) as pool:
        return list(pool.map(cache.get, paths))


def has_video_bytes(split: datasets.Dataset, column: str = "video") -> bool:
    """Whether any cell of a `Video` column holds the file's bytes (read from the Arrow table, no bytes copied)."""
    if not isinstance(split.features.get(column), datasets.Video):
        return False
    return any(
        pc.any(pc.is_valid(pc.struct_field(chunk, "bytes"))).as_py()
        for chunk in split.data.column(column).chunks
        if len(chunk)
    )


def with_video_metadata(
    split: datasets.Dataset, video_column: str = "video", num_workers: int | None = None
) -> datasets.Dataset:
    """`split` with the loaders' metadata columns (`video_frames`, `fps`, `width`, `height`) when it lacks them.

    Path cells are probed through the `VideoMetadataCache` of their common folder (threads), so the next load
    opens no video; a video that cannot be probed gets None and is skipped (training) or reported (evaluation)
    when it is read. A split whose cells hold bytes is returned as it is: its clips are probed from memory
    when sampled, which reads only the container header of bytes already in memory (hashing the bytes to key
    a cache would read all of them), and nothing in the data root or the cache can go stale.
    """
    if "video_frames" in split.column_names or len(split) == 0 or has_video_bytes(split, video_column):
        return split
    paths = [Path(video_path(cell)).absolute() for cell in split[video_column]]
    cache = VideoMetadataCache(os.path.commonpath([str(path.parent) for path in paths]))
    metadata = _probe_all(cache, paths, num_workers or _default_workers())
    cache.save()
    failed = [f"{path}: {meta['error']}" for path, meta in zip(paths, metadata) if "error" in meta]
    if failed:
        logger.warning(
            "%d of %d videos could not be probed and will be skipped when read (first: %s)",
            len(failed),
            len(paths),
            failed[0],
        )
    for column, feature in METADATA_FEATURES.items():
        split = split.add_column(column, [meta.get(column) for meta in metadata], feature=feature)
    return split


def _build(
    root: Path,
    splits: dict[str, list[tuple[Path | None, str, int]]],
    class_names: list[str],
    num_workers: int,
    extra_labels: dict[str, tuple[list[str], dict[str, int]]] | None = None,
) -> datasets.DatasetDict:
    """Rows (path or None when missing, listed name, label) per split -> DatasetDict with probed metadata.

    extra_labels: {column: (class names, {listed name: class index})}, one more ClassLabel column each.
    """
    extra_labels = extra_labels or {}
    cache = VideoMetadataCache(root)
    report = LoadReport()
    features = {
        "video": datasets.Video(decode=False),
        "label": datasets.ClassLabel(names=class_names),
        **METADATA_FEATURES,
    } | {column: datasets.ClassLabel(names=names) for column, (names, _labels) in extra_labels.items()}
    result = {}
    for split, entries in splits.items():
        present = [(path, name, label) for path, name, label in entries if path is not None]
        report.missing[split] = [name for path, name, _label in entries if path is None]
        metadata = _probe_all(cache, [path for path, _name, _label in present], num_workers)
        columns: dict[str, list] = {name: [] for name in features}
        flows = []
        report.unreadable[split] = []
        for (path, name, label), meta in zip(present, metadata):
            if "error" in meta:
                report.unreadable[split].append(f"{path}: {meta['error']}")
                continue
            columns["video"].append(str(path))
            columns["label"].append(label)
            for column, (_names, labels) in extra_labels.items():
                columns[column].append(labels[name])
            for key in METADATA_FEATURES:
                columns[key].append(meta[key])
            flow = flow_path_for(path)
            flows.append(str(flow) if flow.is_file() else None)
        split_features = dict(features)
        if any(flows):
            columns["flow"], split_features["flow"] = flows, datasets.Video(decode=False)
        result[split] = datasets.Dataset.from_dict(
            columns, features=datasets.Features(split_features), split=split
        )
        for kind, items in (("missing", report.missing[split]), ("unreadable", report.unreadable[split])):
            if items:
                logger.warning(
                    "%s split '%s': %d listed videos are %s and were left out (first: %s)",
                    root,
                    split,
                    len(items),
                    kind,
                    items[0],
                )
        if entries and not columns["video"]:
            raise FileNotFoundError(
                f"none of the {len(entries)} videos of split '{split}' was found or readable under {root} "
                f"(first listed: {entries[0][1]}); check the root folder"
            )
    cache.save()
    dataset_dict = datasets.DatasetDict(result)
    dataset_dict.load_report = report
    return dataset_dict


def _resolve(root: Path, relpath: str) -> Path | None:
    """`root/relpath`, or the same name with another video extension (datasets are often re-encoded)."""
    path = root / relpath
    if path.is_file():
        return path
    for extension in VIDEO_EXTENSIONS:
        candidate = path.with_suffix(extension)
        if candidate.is_file():
            return candidate
    return None


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} does not exist")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _check_split(split: int) -> None:
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split}")


def _default_workers() -> int:
    return min(8, os.cpu_count() or 1)


def load_ucf101(
    root: str | os.PathLike,
    split: int = 1,
    *,
    annotation_dir: str | os.PathLike | None = None,
    num_workers: int | None = None,
) -> datasets.DatasetDict:
    """UCF-101 from its official layout: `<root>/<Class>/v_<Class>_gXX_cYY.avi` and `ucfTrainTestlist/` with
    `classInd.txt`, `trainlist0{split}.txt`, `testlist0{split}.txt` -> {"train", "test"}.

    Class names and their order come from `classInd.txt`; each video's label from its class folder (not the
    1-based number in the train list). annotation_dir: where the lists are (default `<root>/ucfTrainTestlist`).
    When the lists' folder holds `extra_labels.json` (the synthetic two-label presets), each label it names is
    one more ClassLabel column (e.g. `appearance_label`).
    """
    _check_split(split)
    root = Path(root)
    lists = Path(annotation_dir) if annotation_dir is not None else root / "ucfTrainTestlist"
    class_names = [line.split()[1] for line in _read_lines(lists / "classInd.txt")]
    index = {name: i for i, name in enumerate(class_names)}
    splits = {}
    for split_name, filename in (("train", f"trainlist0{split}.txt"), ("test", f"testlist0{split}.txt")):
        entries = []
        for line in _read_lines(lists / filename):
            relpath = line.split()[0]
            class_name = relpath.split("/")[0]
            if class_name not in index:
                raise ValueError(
                    f"{lists / filename}: '{relpath}' is in class folder '{class_name}', not in classInd.txt"
                )
            entries.append((_resolve(root, relpath), relpath, index[class_name]))
        splits[split_name] = entries
    extra_labels = _read_extra_labels(lists / EXTRA_LABELS_FILE, splits)
    return _build(root, splits, class_names, num_workers or _default_workers(), extra_labels)


def _read_extra_labels(
    path: Path, splits: dict[str, list[tuple[Path | None, str, int]]]
) -> dict[str, tuple[list[str], dict[str, int]]]:
    """{column: (class names, {listed name: index})} from an extra-labels file, checked against the listed
    videos; {} when there is no such file."""
    if not path.is_file():
        return {}
    try:
        spec = json.loads(path.read_text())
        extra = {column: (list(entry["names"]), dict(entry["videos"])) for column, entry in spec.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"{path} is not a valid extra-labels file ({err!r}); it must map each column to "
            '{"names": [...], "videos": {"<Class>/<file>": <index>}}'
        ) from None
    for column, (names, labels) in extra.items():
        if column in ("video", "label", "video_frames", "fps", "width", "height", "flow"):
            raise ValueError(f"{path}: column '{column}' would replace a loader column; rename it")
        for entries in splits.values():
            for _path, name, _label in entries:
                if not 0 <= labels.get(name, -1) < len(names):
                    raise ValueError(
                        f"{path}: '{column}' has no valid label for listed video '{name}' "
                        f"(need an index in 0..{len(names) - 1}); rebuild the file or remove it"
                    )
    return extra


def load_hmdb51(
    root: str | os.PathLike,
    split: int = 1,
    *,
    splits_dir: str | os.PathLike | None = None,
    num_workers: int | None = None,
) -> datasets.DatasetDict:
    """HMDB-51: `<root>/<class>/<video>.avi` and `<class>_test_split{split}.txt` files whose lines are
    `<video>.avi <id>` with 1 = train, 2 = test, 0 = unused -> {"train", "test"}; classes sorted by name.

    splits_dir: the folder of the split files (default: `<root>/testTrainMulti_7030_splits`, `<root>/splits`
    or `<root>`, the first that holds them).
    """
    _check_split(split)
    root = Path(root)
    pattern = f"*_test_split{split}.txt"
    candidates = (
        [Path(splits_dir)]
        if splits_dir is not None
        else [root / "testTrainMulti_7030_splits", root / "splits", root]
    )
    split_files = next(
        (sorted(d.glob(pattern)) for d in candidates if d.is_dir() and any(d.glob(pattern))), []
    )
    if not split_files:
        raise FileNotFoundError(f"no HMDB-51 split files ({pattern}) in {', '.join(map(str, candidates))}")
    suffix = f"_test_split{split}.txt"
    class_names = [f.name[: -len(suffix)] for f in split_files]
    splits: dict[str, list] = {"train": [], "test": []}
    for label, (class_name, split_file) in enumerate(zip(class_names, split_files)):
        for line in _read_lines(split_file):
            name, membership = line.split()[:2]
            if membership == "0":
                continue
            if membership not in ("1", "2"):
                raise ValueError(f"{split_file}: '{line}' should end with 0, 1 or 2")
            relpath = f"{class_name}/{name}"
            splits["train" if membership == "1" else "test"].append((_resolve(root, relpath), relpath, label))
    return _build(root, splits, class_names, num_workers or _default_workers())


def rgb_videos(folder: Path) -> list[Path]:
    """Every video file under `folder`, searched recursively, sorted; flow videos (`<stem>.flow.mp4`) excluded."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix in VIDEO_EXTENSIONS and not is_flow_video(path) and path.is_file()
    )


def _index_videos(folder: Path) -> dict[str, Path]:
    """Every video file under `folder` by file stem (flow videos excluded)."""
    return {path.stem: path for path in rgb_videos(folder)}


def load_kinetics400(
    root: str | os.PathLike,
    *,
    annotations_dir: str | os.PathLike | None = None,
    videos_dir: str | os.PathLike | None = None,
    num_workers: int | None = None,
) -> datasets.DatasetDict:
    """Kinetics-400 -> {"train", "validation"} from the annotation CSVs (`label,youtube_id,time_start,time_end,
    split[,is_cc]`: `train.csv` and `validate.csv` or `val.csv`) and a videos folder searched recursively for
    `<youtube_id>_<start:06d>_<end:06d>.<ext>` or `<youtube_id>.<ext>` (any sub-folder layout).

    Classes: the sorted labels of the train CSV. Videos no longer available are counted in `load_report` and
    logged, never an error (a few percent of Kinetics is always missing).
    """
    root = Path(root)
    annotations = Path(annotations_dir) if annotations_dir is not None else root / "annotations"
    if not annotations.is_dir():
        annotations = root
    videos = Path(videos_dir) if videos_dir is not None else root
    csv_files = {"train": ["train.csv"], "validation": ["validate.csv", "val.csv"]}
    rows_by_split = {}
    for split, names in csv_files.items():
        path = next((annotations / name for name in names if (annotations / name).is_file()), None)
        if path is None:
            raise FileNotFoundError(f"no Kinetics annotation file {' or '.join(names)} in {annotations}")
        with path.open(newline="") as handle:
            rows_by_split[split] = list(csv.DictReader(handle))
    class_names = sorted({row["label"] for row in rows_by_split["train"]})
    index = {name: i for i, name in enumerate(class_names)}
    found = _index_videos(videos)
    splits = {}
    for split, rows in rows_by_split.items():
        entries = []
        for row in rows:
            clip = (
                f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"
            )
            path = found.get(clip) or found.get(row["youtube_id"])
            if row["label"] not in index:
                raise ValueError(
                    f"Kinetics {split} row {clip} has label '{row['label']}', absent from train.csv"
                )
            entries.append((path, clip, index[row["label"]]))
        splits[split] = entries
    return _build(videos, splits, class_names, num_workers or _default_workers())


def load_diving48(
    root: str | os.PathLike,
    *,
    videos_dir: str | os.PathLike | None = None,
    num_workers: int | None = None,
) -> datasets.DatasetDict:
    """Diving-48 V2 -> {"train", "test"} from `Diving48_V2_train.json` / `Diving48_V2_test.json` (lists of
    {"vid_name", "label", ...}) and the videos `<vid_name>.mp4` in `videos_dir` (default `<root>/rgb`, else
    `<root>`). Class names from `Diving48_vocab.json` ([takeoff, somersault, twist, flight] per class, joined
    with "_") when present, else "class_<i>"."""
    root = Path(root)
    videos = (
        Path(videos_dir) if videos_dir is not None else (root / "rgb" if (root / "rgb").is_dir() else root)
    )
    annotations = {}
    for split in ("train", "test"):
        path = root / f"Diving48_V2_{split}.json"
        if not path.is_file():
            raise FileNotFoundError(f"Diving-48 V2 annotation file {path} does not exist")
        annotations[split] = json.loads(path.read_text())
    vocab_path = root / "Diving48_vocab.json"
    num_classes = 1 + max(int(entry["label"]) for entries in annotations.values() for entry in entries)
    if vocab_path.is_file():
        class_names = ["_".join(map(str, parts)) for parts in json.loads(vocab_path.read_text())]
        if len(class_names) < num_classes:
            raise ValueError(
                f"{vocab_path} names {len(class_names)} classes but labels go up to {num_classes - 1}"
            )
    else:
        class_names = [f"class_{i}" for i in range(num_classes)]
    found = _index_videos(videos)
    splits = {
        split: [(found.get(entry["vid_name"]), entry["vid_name"], int(entry["label"])) for entry in entries]
        for split, entries in annotations.items()
    }
    return _build(videos, splits, class_names, num_workers or _default_workers())


def _class_folders(folder: Path) -> Iterable[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def load_video_folder(root: str | os.PathLike, *, num_workers: int | None = None) -> datasets.DatasetDict:
    """A class-per-folder tree: `<root>/<split>/<class>/<video>` for split folders named train, validation,
    val or test, else `<root>/<class>/<video>` as a single "train" split. Classes: the sorted folder names
    (the union over splits)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"video folder {root} does not exist")
    split_names = {"train": "train", "validation": "validation", "val": "validation", "test": "test"}
    split_dirs = {split_names[d.name]: d for d in _class_folders(root) if d.name in split_names}
    if not split_dirs:
        split_dirs = {"train": root}
    class_names = sorted({d.name for folder in split_dirs.values() for d in _class_folders(folder)})
    if not class_names:
        raise FileNotFoundError(f"no class folders in {root}")
    index = {name: i for i, name in enumerate(class_names)}
    splits = {}
    for split, folder in split_dirs.items():
        splits[split] = [
            (path, str(path.relative_to(root)), index[class_dir.name])
            for class_dir in _class_folders(folder)
            for path in sorted(class_dir.iterdir())
            if path.suffix in VIDEO_EXTENSIONS and not is_flow_video(path)
        ]
    return _build(root, splits, class_names, num_workers or _default_workers())
