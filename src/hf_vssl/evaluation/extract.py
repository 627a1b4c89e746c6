"""Dense clip features for temporal models: one (T, C) array per video, a clip every `stride` frames.

Temporal action localisation and segmentation heads (ActionFormer, BMN) read a frozen backbone's
features as one (T, C) array per video with the times of its clips; this module writes them. The clips
are the model's test clips (`VsslVideoProcessor`: clip length, frame size, centre crop or ten crops),
taken at a fixed step instead of the test's few clips; each crop's map at the chosen level is pooled over
time and space and the crops of a clip averaged. Decoding and batching are evaluation's
(`stream_clip_outputs`): workers decode the next videos while forward passes are filled across videos,
and `accelerate launch` splits the videos over processes.

On disk (`write_features`): `<id>.npy` and its sidecar `<id>.json` (clip start frames and times) per
video, each written under a temporary name and renamed, so a killed run resumes where it stopped;
`extraction.json` records the settings (a folder made with others is refused) and `report.json` what a
run did, including the undecodable videos it skipped. `format="parquet"` collects the arrays into
`data/train-00000-of-00001.parquet`, a dataset `datasets.load_dataset(out_dir)` opens.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal

import datasets
import numpy as np
import pyarrow.compute as pc
from accelerate import Accelerator
from accelerate.utils import gather_object
from tqdm.auto import tqdm

from ..data.decoding import VideoInfo
from ..data.flow import flow_path_for
from ..data.loaders import METADATA_FEATURES, VIDEO_EXTENSIONS, rgb_videos, with_video_metadata
from ..data.processor import VsslVideoProcessor
from ..data.samplers import clip_span, dense_clips
from ..data.sources import as_video_dataset, detect_format, load_video_dataset
from ..data.test_clips import STREAM_COLUMNS, TestClipDataset
from ..models.modeling_utils import MULTILEVEL_NAMES, VsslBackboneModel
from ..typed_fields import bounds, check_bounds, coerce_fields
from .features import (
    pooled_features,
    stream_clip_outputs,
    weights_fingerprint,
)
from .runner import check_stream, check_stream_column, default_processor, default_stream, load_backbone

logger = logging.getLogger(__name__)

FeatureLevel = Literal["low", "mid", "high", "final"]  # MULTILEVEL_NAMES' stage maps, or the last stage's
FeatureDtype = Literal["float32", "float16"]
FeatureFormat = Literal["npy", "parquet"]
# VideoMAE V2's TAD feature notes (THUMOS14 features "_16_4",
# https://github.com/OpenGVLab/VideoMAEv2/blob/master/docs/TAD.md) and ActionFormer's THUMOS14 I3D
# features: a 16-frame clip every 4 frames
DEFAULT_STRIDE = 4
SETTINGS_FILE, REPORT_FILE, PARTS_DIR = "extraction.json", "report.json", "parts"
PARQUET_FILE = Path("data") / "train-00000-of-00001.parquet"
PARTIAL_SUFFIX = ".partial"  # a file being written; renamed when complete


@dataclass
class ExtractionArguments:
    """What is extracted from each video and how it is stored (the clips themselves: the processor)."""

    level: FeatureLevel = field(
        default="final",
        metadata={"help": "feature map pooled per clip: low / mid / high stage or the final one"},
    )
    stride: int | None = field(
        default=None,
        metadata={
            "help": f"frames between clip starts (default {DEFAULT_STRIDE}, unless --fps is given)",
            **bounds(ge=1),
        },
    )
    fps: float | None = field(
        default=None, metadata={"help": "clips per second of video, instead of --stride", **bounds(gt=0)}
    )
    dtype: FeatureDtype = field(default="float32", metadata={"help": "dtype of the stored features"})
    format: FeatureFormat = field(
        default="npy",
        metadata={"help": "npy: <id>.npy (T, C) + <id>.json per video; parquet: one datasets Parquet file"},
    )
    batch_size: int = field(
        default=32, metadata={"help": "crops per forward pass, filled across videos", **bounds(ge=1)}
    )

    def __post_init__(self) -> None:
        coerce_fields(self)  # a choice outside its Literal fails here, naming the field and the choices
        check_bounds(self)
        if self.stride is not None and self.fps is not None:
            raise ValueError("give either stride (frames between clips) or fps (clips per second), not both")

    def step(self, video_fps: float) -> float:
        """Frames between clip starts in a video of `video_fps` frames per second."""
        return video_fps / self.fps if self.fps is not None else self.stride or DEFAULT_STRIDE


@dataclass
class VideoFeatures:
    """features: (T, C), one row per clip; start_frames: (T,) each clip's first frame; fps: the video's."""

    video: str
    features: np.ndarray
    start_frames: np.ndarray
    fps: float
    source: str = ""

    @property
    def start_times(self) -> np.ndarray:
        """(T,) seconds from the video's start to each clip's first frame."""
        return self.start_frames / self.fps

    def sidecar(self) -> dict[str, Any]:
        return {
            "video": self.source,
            "fps": self.fps,
            "num_clips": len(self.features),
            "feature_dim": int(self.features.shape[1]),
            "start_frames": self.start_frames.tolist(),
            "start_times": self.start_times.tolist(),
        }

    def save(self, folder: Path) -> None:
        """`<id>.json`, then `<id>.npy`: each under a temporary name, renamed when complete."""
        path = folder / f"{self.video}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path.with_suffix(".json"), lambda f: f.write(json.dumps(self.sidecar()).encode()))
        write_atomic(path, lambda f: np.save(f, self.features))

    @classmethod
    def load(cls, folder: Path, video: str) -> VideoFeatures:
        meta = json.loads((folder / f"{video}.json").read_text())
        features = np.load(folder / f"{video}.npy")
        return cls(
            video, features, np.asarray(meta["start_frames"], dtype=np.int64), meta["fps"], meta["video"]
        )


def write_atomic(path: Path, write: Any) -> None:
    """`write(handle)` into `path` + PARTIAL_SUFFIX, then rename: `path` is whole or absent."""
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    with open(partial, "wb") as handle:
        write(handle)
    os.replace(partial, path)


def is_done(folder: Path, video: str) -> bool:
    return (folder / f"{video}.npy").is_file() and (folder / f"{video}.json").is_file()


class DenseClipDataset(TestClipDataset):
    """The processor's clips, one every `arguments.step(fps)` frames while they fit; a video shorter than
    one clip gives one clip, looped as ViCC's dense test does (`dense_clips`)."""

    def __init__(
        self,
        dataset: datasets.Dataset,
        processor: VsslVideoProcessor,
        video_column: str,
        arguments: ExtractionArguments,
    ):
        super().__init__(dataset, processor, video_column=video_column, label_column=None)
        self.arguments = arguments

    def clip_indices(self, info: VideoInfo) -> np.ndarray:
        num_frames, frame_stride = self.processor.num_frames, self.processor.frame_stride
        span = clip_span(num_frames, frame_stride)
        if info.video_frames < span:
            return dense_clips(info.video_frames, num_frames, 1, frame_stride)
        last = info.video_frames - span
        starts = np.round(np.arange(0, last + 1, self.arguments.step(info.fps))).astype(np.int64)
        starts = np.unique(starts[starts <= last])
        return starts[:, None] + np.arange(num_frames, dtype=np.int64) * frame_stride  # (n, T)


def level_features(backbone: VsslBackboneModel, level: str) -> Any:
    """pixel_values (N, C, T, H, W) -> (N, D): the `level` map averaged over time and space."""
    if level == "final":
        return pooled_features(backbone)
    index = MULTILEVEL_NAMES.index(level)
    return lambda x: (
        backbone(x, output_multilevel_features=True).multilevel_features[index].mean(dim=(2, 3, 4))
    )


# ----- the videos -----


def open_videos(
    dataset: str | os.PathLike | datasets.Dataset | datasets.DatasetDict,
    *,
    dataset_format: str = "auto",
    split: int = 1,
    video_column: str = "video",
) -> datasets.Dataset:
    """Every video of `dataset` once (all splits): a `Dataset` with `video` (and `flow`) cells and the
    probed metadata. A folder in no known layout is a plain folder of videos, searched recursively."""
    if isinstance(dataset, (str, os.PathLike)):
        root = Path(dataset)
        if dataset_format == "auto" and root.is_dir() and detect_format(root) == "folder":
            return video_folder(root)
        dataset = load_video_dataset(dataset, dataset_format, split, video_column=video_column)
    else:
        splits = (
            dataset if isinstance(dataset, datasets.DatasetDict) else datasets.DatasetDict(videos=dataset)
        )
        dataset = as_video_dataset(splits, video_column=video_column)
    splits = list(dataset.values())
    common = [c for c in ("video", "flow", *METADATA_FEATURES) if all(c in s.column_names for s in splits)]
    return datasets.concatenate_datasets([s.select_columns(common) for s in splits])


def video_folder(root: Path) -> datasets.Dataset:
    """Every video file under `root` (flow videos go in the `flow` column of their RGB video)."""
    paths = rgb_videos(root)
    if not paths:
        raise FileNotFoundError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) under {root}")
    columns = {"video": [str(p.absolute()) for p in paths]}
    features = {"video": datasets.Video(decode=False)}
    flows = [flow_path_for(p) for p in paths]
    if any(f.is_file() for f in flows):
        columns["flow"] = [str(f.absolute()) if f.is_file() else None for f in flows]
        features["flow"] = datasets.Video(decode=False)
    return with_video_metadata(datasets.Dataset.from_dict(columns, features=datasets.Features(features)))


def video_paths(dataset: datasets.Dataset) -> list[str | None]:
    """The path each `Video(decode=False)` cell records, read from Arrow (no video bytes copied)."""
    return pc.struct_field(dataset.with_format("arrow")["video"], "path").to_pylist()


def video_ids(paths: Sequence[str | None]) -> list[str]:
    """The name of each row's outputs: its video's path below the videos' common folder, without the
    extension (a row without a path: `video_<row>`). Rows naming the same file give the same id."""
    named = [p for p in paths if p]
    try:
        root = os.path.commonpath([os.path.dirname(p) for p in named]) if named else ""
    except ValueError:  # absolute and relative paths mixed
        root = ""
    ids = []
    for row, path in enumerate(paths):
        relative = os.path.relpath(path, root) if path and root else path or f"video_{row:06d}"
        name = PurePath(os.path.splitext(relative)[0])
        if name.is_absolute() or ".." in name.parts:
            name = PurePath(name.name)
        ids.append(name.as_posix())
    return ids


def named_rows(videos: datasets.Dataset) -> tuple[list[str], list[int]]:
    """Each row's output name (`video_ids`) and the first row of every name (`unique_rows`)."""
    paths = video_paths(videos)
    ids = video_ids(paths)
    return ids, unique_rows(paths, ids)


def unique_rows(paths: Sequence[str | None], ids: Sequence[str]) -> list[int]:
    """The first row of every id; two different files with one id are an error naming them."""
    first: dict[str, int] = {}
    for row, video in enumerate(ids):
        first.setdefault(video, row)
        if paths[row] != paths[first[video]]:
            raise ValueError(
                f"two videos give the output name '{video}' ({paths[first[video]]} and {paths[row]}); "
                "rename one of them or extract them into separate folders"
            )
    return sorted(first.values())


# ----- extraction -----


class FeatureExtractor:
    """One backbone, its test clips (`processor`) and `arguments`: the features of any videos."""

    def __init__(
        self,
        backbone: VsslBackboneModel,
        processor: VsslVideoProcessor,
        arguments: ExtractionArguments,
        *,
        accelerator: Accelerator,
        name: str = "",
        stream: str = "rgb",
        num_workers: int = 2,
        progress: bool = True,
        skip_corrupt: bool = True,
    ):
        check_stream(backbone, name or type(backbone).__name__, stream)
        self.backbone, self.processor, self.arguments = backbone.to(accelerator.device), processor, arguments
        self.accelerator, self.name, self.stream = accelerator, name, stream
        self.num_workers, self.progress, self.skip_corrupt = num_workers, progress, skip_corrupt

    def settings(self) -> dict[str, Any]:
        """What determines the features (not how fast they are made): a folder's `extraction.json`."""
        arguments = {k: v for k, v in asdict(self.arguments).items() if k != "batch_size"}
        return {
            "model": self.name,
            "weights": weights_fingerprint(self.backbone),
            "processor": self.processor.to_dict(),
            "stream": self.stream,
            **arguments,
        }

    def run(
        self, videos: datasets.Dataset, rows: Sequence[int], ids: Sequence[str]
    ) -> Iterator[VideoFeatures | tuple[str, str]]:
        """This process's share of `rows`: each video's features, or (video, reason) for one that cannot be
        decoded (with `skip_corrupt=False` that is an error naming it)."""
        if self.stream == "flow":
            check_stream_column(datasets.DatasetDict(videos=videos), "flow", ("videos",))
        clips = DenseClipDataset(videos, self.processor, STREAM_COLUMNS[self.stream], self.arguments)
        mine = list(rows)[self.accelerator.process_index :: self.accelerator.num_processes]
        outputs = stream_clip_outputs(
            level_features(self.backbone, self.arguments.level), clips, mine, self.processor,
            accelerator=self.accelerator, batch_size=self.arguments.batch_size, num_workers=self.num_workers,
            modules=(self.backbone,), in_channels=self.backbone.config.in_channels, skip_corrupt=self.skip_corrupt,
        )  # fmt: skip
        show = self.progress and self.accelerator.is_main_process
        bar = tqdm(total=len(mine), desc="features", unit="video", disable=not show)
        num_clips = 0
        for item, crops in outputs:
            bar.update()
            if crops is None:
                yield item["path"], item["error"]
                continue
            start_frames = item["start_frames"].numpy()
            per_clip = crops.reshape(len(start_frames), -1, crops.shape[-1]).mean(dim=1)  # crops averaged
            num_clips += len(per_clip)
            bar.set_postfix(clips_per_s=f"{num_clips / max(bar.format_dict['elapsed'], 1e-9):.1f}")
            features = per_clip.numpy().astype(self.arguments.dtype)
            yield VideoFeatures(ids[item["index"]], features, start_frames, item["fps"], item["path"])
        bar.close()


def feature_extractor(
    model: str | os.PathLike | VsslBackboneModel,
    arguments: ExtractionArguments | None = None,
    *,
    processor: VsslVideoProcessor | None = None,
    stream: str | None = None,
    accelerator: Accelerator | None = None,
    num_workers: int = 2,
    progress: bool = True,
    skip_corrupt: bool = True,
    **processor_overrides: Any,
) -> FeatureExtractor:
    """A `FeatureExtractor` of `model`: a backbone, or anything `load_backbone` loads (a backbone folder,
    a pretraining checkpoint, converted release weights, a Hub id). processor: its test clips (default:
    the model's, with `processor_overrides`, e.g. num_frames=16, ten_crop=True); stream: rgb or flow
    (default: the model's); accelerator: default bf16 autocast on CUDA, float32 on the CPU."""
    from ..training.loop import TrainingArguments, make_accelerator

    if isinstance(model, VsslBackboneModel):
        backbone, name, folder = model, type(model).__name__, None
    else:
        backbone, name = load_backbone(str(model))
        folder = str(model)
    if processor is None:
        processor = default_processor(backbone, folder, **processor_overrides)
    if accelerator is None:
        accelerator = make_accelerator(TrainingArguments(output_dir=Path.cwd()), trackers=False)
    return FeatureExtractor(
        backbone, processor, arguments or ExtractionArguments(), accelerator=accelerator, name=name,
        stream=stream or default_stream(backbone), num_workers=num_workers, progress=progress,
        skip_corrupt=skip_corrupt,
    )  # fmt: skip


def extract_features(
    model: str | os.PathLike | VsslBackboneModel | FeatureExtractor,
    dataset: str | os.PathLike | datasets.Dataset | datasets.DatasetDict,
    arguments: ExtractionArguments | None = None,
    **options: Any,
) -> dict[str, VideoFeatures]:
    """{video id: its features} of every video of `dataset` (`open_videos`) in memory, on every process;
    undecodable videos are left out and logged. options: those of `feature_extractor`."""
    extractor = (
        model if isinstance(model, FeatureExtractor) else feature_extractor(model, arguments, **options)
    )
    videos = open_videos(dataset)
    ids, rows = named_rows(videos)
    results = list(extractor.run(videos, rows, ids))
    if extractor.accelerator.num_processes > 1:
        results = gather_object(results)
    skipped = [f"{video}: {reason}" for video, reason in (r for r in results if isinstance(r, tuple))]
    if skipped:
        logger.warning("skipped %d undecodable video(s): %s", len(skipped), "; ".join(skipped))
    found = {r.video: r for r in results if isinstance(r, VideoFeatures)}
    return {ids[row]: found[ids[row]] for row in rows if ids[row] in found}


@dataclass
class ExtractionReport:
    """What one run did: videos in the dataset, features written now or found from an earlier run, clips
    extracted now, and the undecodable videos skipped ({video: reason})."""

    videos: int
    extracted: int = 0
    existing: int = 0
    clips: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        rate = max(self.seconds, 1e-9)
        return asdict(self) | {"videos_per_s": self.extracted / rate, "clips_per_s": self.clips / rate}


class FeatureFolder:
    """The output folder of `write_features`: resumable, one file per video, settings kept beside."""

    def __init__(self, root: str | os.PathLike, extractor: FeatureExtractor):
        self.root, self.extractor = Path(root), extractor
        self.parquet = extractor.arguments.format == "parquet"
        self.parts = self.root / PARTS_DIR if self.parquet else self.root

    def check_settings(self) -> None:
        """Refuse a folder holding features made with other settings; the main process records them."""
        settings, path = self.extractor.settings(), self.root / SETTINGS_FILE
        if path.is_file():
            recorded = json.loads(path.read_text())
            keys = (settings.keys() | recorded.keys()) - {"model"}  # a name is no setting: the weights are
            differ = sorted(k for k in keys if settings.get(k) != recorded.get(k))
            if differ:
                raise ValueError(
                    f"{self.root} holds features extracted with other settings ({', '.join(differ)} differ); "
                    "pass another output folder, or delete it to start over"
                )
        elif self.extractor.accelerator.is_main_process:
            self.root.mkdir(parents=True, exist_ok=True)
            write_atomic(path, lambda f: f.write(json.dumps(settings, indent=2, default=str).encode()))

    def write(self, videos: datasets.Dataset) -> ExtractionReport:
        """Extract every video without finished files; report.json says what this run did."""
        start, accelerator = time.perf_counter(), self.extractor.accelerator
        ids, rows = named_rows(videos)
        self.check_settings()
        if self.parquet and (self.root / PARQUET_FILE).is_file():
            return ExtractionReport(videos=len(rows), existing=len(rows))  # finished: never rewritten
        todo = [row for row in rows if not is_done(self.parts, ids[row])]  # before any process writes
        if accelerator.is_main_process:
            for partial in self.root.rglob(f"*{PARTIAL_SUFFIX}"):  # left by a killed run
                partial.unlink()
        accelerator.wait_for_everyone()
        extracted, clips, skipped = 0, 0, {}
        for result in self.extractor.run(videos, todo, ids):
            if isinstance(result, VideoFeatures):
                result.save(self.parts)
                extracted, clips = extracted + 1, clips + len(result.features)
            else:
                skipped[result[0]] = result[1]
        if accelerator.num_processes > 1:
            shares = gather_object([(extracted, clips, skipped)])
            extracted, clips = sum(s[0] for s in shares), sum(s[1] for s in shares)
            skipped = {video: reason for share in shares for video, reason in share[2].items()}
        report = ExtractionReport(
            len(rows), extracted, len(rows) - len(todo), clips, dict(sorted(skipped.items())),
            time.perf_counter() - start,
        )  # fmt: skip
        if accelerator.is_main_process:
            if self.parquet:
                self.collect([ids[row] for row in rows])
            write_atomic(
                self.root / REPORT_FILE, lambda f: f.write(json.dumps(report.to_dict(), indent=2).encode())
            )
            if skipped:
                logger.warning("skipped %d undecodable video(s): %s", len(skipped), "; ".join(skipped))
        accelerator.wait_for_everyone()
        return report

    def collect(self, ids: Sequence[str]) -> None:
        """The finished videos' parts -> one Parquet file `datasets.load_dataset(root)` opens; parts removed."""
        from datasets.arrow_writer import ParquetWriter

        done = [video for video in ids if is_done(self.parts, video)]
        if not done:
            raise ValueError(f"no video could be decoded; see {self.root / REPORT_FILE}")
        first = VideoFeatures.load(self.parts, done[0])
        features = datasets.Features({
            "video": datasets.Value("string"),
            "source": datasets.Value("string"),
            "fps": datasets.Value("float64"),
            "start_frames": datasets.List(datasets.Value("int64")),
            "start_times": datasets.List(datasets.Value("float64")),
            "features": datasets.Array2D(shape=(None, first.features.shape[1]), dtype=self.extractor.arguments.dtype),
        })  # fmt: skip
        path = self.root / PARQUET_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + PARTIAL_SUFFIX)
        writer = ParquetWriter(path=str(partial), features=features)
        for video in done:
            item = VideoFeatures.load(self.parts, video)
            writer.write({"video": video, "source": item.source, "fps": item.fps, "features": item.features,
                          "start_frames": item.start_frames.tolist(), "start_times": item.start_times.tolist()})  # fmt: skip
        writer.finalize()
        os.replace(partial, path)
        shutil.rmtree(self.parts)


def write_features(
    model: str | os.PathLike | VsslBackboneModel | FeatureExtractor,
    dataset: str | os.PathLike | datasets.Dataset | datasets.DatasetDict,
    out_dir: str | os.PathLike,
    arguments: ExtractionArguments | None = None,
    **options: Any,
) -> ExtractionReport:
    """The features of every video of `dataset` (`open_videos`) written into `out_dir` (see the module's
    docstring); finished videos of an earlier run with the same settings are kept. options: those of
    `feature_extractor`."""
    extractor = (
        model if isinstance(model, FeatureExtractor) else feature_extractor(model, arguments, **options)
    )
    return FeatureFolder(out_dir, extractor).write(open_videos(dataset))
