"""`prepare_dataset`: re-encode a video dataset once so that training decodes it several times faster.

Decoding is the CPU cost of training (320x240 H.264 decodes at ~59 clips per CPU-second).
A prepared copy is smaller (short side 128, the papers' resize, with an even width), has a key frame at least
every 16 frames (a clip's seek lands close to its first frame) and uses the codec that decodes fastest per
core (`PREPARED_CODEC`, measured by benchmarks/bench_data.py). The copy keeps every relative path (with the
`.mp4` extension) and every other file (split lists, annotations), so the loaders open it exactly like the
source: the same splits and labels. Each video's frame count is written to the loaders' metadata cache (in the
Hugging Face cache, `hf_vssl.data.loaders.metadata_cache_dir`), so loading the copy opens no video.

Resumable: a video is written under a temporary name and renamed when complete, so an existing output is complete
and is skipped by the next run; temporary files a stopped run left behind are removed. A source video FFmpeg
cannot decode is skipped, counted and named in the report; it never stops the run.

`output_format="parquet"` writes the prepared copy to `OUT/videos/` (kept, so a rerun resumes) and the videos of
each split as sharded Parquet files of `Video(decode=False)` rows holding the file bytes to
`OUT/data/<split>-0000i-of-0000n.parquet` (the Hub's layout), which `datasets.load_dataset(OUT)` or
`load_dataset("parquet", data_files=...)` opens, streams and `push_to_hub` uploads, and `VideoClipDataset` decodes
from memory.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import datasets
from av.video.reformatter import VideoReformatter

from .decoding import (
    RESIZE_INTERPOLATION,
    VideoDecodeError,
    VideoInfo,
    probe_video,
    short_side_size,
    video_path,
)
from .encoding import VideoCodec
from .flow import is_flow_video
from .loaders import CACHE_FILENAME, VIDEO_EXTENSIONS, VideoMetadataCache
from .sources import load_video_dataset

logger = logging.getLogger(__name__)

# MPEG-4 part 2 at qscale 3: of FFmpeg's bundled encoders it decoded 16-frame clips of the prepared 128x170
# copies fastest per CPU-second in most runs of benchmarks/bench_data.py on this shared 2-core CPU (UCF-like
# 320x240 source; runs differ by up to 1.4x): MPEG-4 q3 113 / 157 / 110 / 126, MJPEG 182 / 123 / 91 / 148, H.264 veryfast
# tune=fastdecode 99 / 76 / 102, H.264 veryfast 95, H.264 ultrafast 109, at 18 KiB per video against MJPEG's
# 265 and H.264's 73-262. It has no B-frames, so every frame decodes from the frames before it.
PREPARED_CODEC = VideoCodec("mpeg4", "yuv420p", {"qscale:v": "3"})
PREPARED_EXTENSION = ".mp4"
DEFAULT_SHORT_SIDE = 128  # MFO and Pace Prediction supp.: frames resized to 128x171 before the 112 crop
DEFAULT_GOP_SIZE = (
    16  # a key frame at least every 16 frames: a clip's seek decodes < 16 frames it does not use
)
MAX_RATE_DENOMINATOR = 1001  # NTSC rates (30000/1001) exactly; MPEG-4 allows time bases up to 1/65535
TEMP_SUFFIX = ".part"  # a video being written; renamed to its final name when complete
PARQUET_VIDEOS_DIR = "videos"  # with --format parquet: where the prepared video files go
PARQUET_DATA_DIR = "data"  # with --format parquet: the shards (the Hub's layout)
DEFAULT_SHARD_MB = 500  # the Hub's recommended maximum Parquet shard size (`push_to_hub`'s max_shard_size)
OUTPUT_FORMATS = ("folder", "parquet")


@dataclass
class PrepareReport:
    """What one run did: videos written now, videos already prepared (skipped), sources it could not decode
    (relative path -> reason), source flow videos left out, Parquet shards written."""

    written: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    flow_videos: list[str] = field(default_factory=list)
    shards: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line per outcome, the failed videos named."""
        lines = [
            f"prepared {len(self.written)} videos, {len(self.existing)} already prepared (skipped), "
            f"{len(self.failed)} undecodable (skipped) in {self.seconds:.1f} s"
        ]
        lines += [f"  undecodable: {path}: {reason}" for path, reason in sorted(self.failed.items())]
        if self.flow_videos:
            lines.append(
                f"  {len(self.flow_videos)} optical-flow videos left out: run extract-flow on the copy"
            )
        if self.shards:
            lines.append(f"  {len(self.shards)} Parquet shards in {self.shards[0].parent}")
        return "\n".join(lines)


def prepared_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(H, W) of a prepared video: short side `short_side`, aspect ratio kept, both sides even (4:2:0 chroma)."""
    if short_side < 2 or short_side % 2:
        raise ValueError(f"short_side must be an even number >= 2 (4:2:0 video), got {short_side}")
    return short_side_size(height, width, short_side)


def transcode_video(
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    short_side: int = DEFAULT_SHORT_SIDE,
    gop_size: int = DEFAULT_GOP_SIZE,
    codec: VideoCodec = PREPARED_CODEC,
    threads: int = 0,
) -> VideoInfo:
    """Re-encode `source` into `target` (written as `target` + TEMP_SUFFIX, then renamed) at short side
    `short_side`, a key frame every `gop_size` frames, every frame kept, at the source's frame rate.

    Returns the written video's metadata (`video_frames`: the frames encoded). Raises `VideoDecodeError` when the
    source cannot be decoded; no file is left behind then.
    """
    target = Path(target)
    partial = target.with_name(target.name + TEMP_SUFFIX)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        info = _transcode(Path(source), partial, short_side, gop_size, codec, threads)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return info


def _transcode(
    source: Path, partial: Path, short_side: int, gop_size: int, codec: VideoCodec, threads: int
) -> VideoInfo:
    info = probe_video(source)  # a missing, empty or unreadable file fails here, with its name
    height, width = prepared_size(info.height, info.width, short_side)
    rate = Fraction(info.fps).limit_denominator(MAX_RATE_DENOMINATOR)
    reformatter = VideoReformatter()
    video_frames = 0
    try:
        with av.open(str(source)) as reader, av.open(str(partial), mode="w", format="mp4") as writer:
            decoder = reader.streams.video[0]
            decoder.thread_type = "AUTO"
            decoder.codec_context.thread_count = threads
            stream = writer.add_stream(codec.name, rate=rate, options=dict(codec.options))
            stream.width, stream.height, stream.pix_fmt = width, height, codec.pix_fmt
            stream.codec_context.gop_size = gop_size
            stream.codec_context.thread_count = threads
            for frame in reader.decode(decoder):
                resized = reformatter.reformat(
                    frame,
                    width=width,
                    height=height,
                    format=codec.pix_fmt,
                    interpolation=RESIZE_INTERPOLATION,
                )
                resized.pts, resized.time_base = video_frames, 1 / rate
                writer.mux(stream.encode(resized))
                video_frames += 1
            writer.mux(stream.encode())
    except (av.FFmpegError, OSError) as err:
        raise VideoDecodeError(source, f"FFmpeg failed while re-encoding it ({err})") from err
    if video_frames == 0:
        raise VideoDecodeError(source, "it holds no decodable frame")
    return VideoInfo(video_frames=video_frames, fps=float(rate), width=width, height=height)


def prepared_path(relative: Path) -> Path:
    """Where a source video's copy goes: the same relative path with the prepared container's extension."""
    return relative.with_suffix(PREPARED_EXTENSION)


def _source_files(source_root: Path) -> Iterator[Path]:
    """Every file under `source_root` (relative), hidden folders and an older version's metadata cache left out."""
    for path in sorted(source_root.rglob("*")):
        relative = path.relative_to(source_root)
        hidden = any(part.startswith(".") for part in relative.parts[:-1])
        if (
            path.is_file()
            and not hidden
            and relative.name != CACHE_FILENAME
            and not relative.name.endswith(TEMP_SUFFIX)
        ):
            yield relative


def _prepare_one(job: tuple[str, str, int, int, int]) -> tuple[str, VideoInfo | None, str]:
    source, target, short_side, gop_size, threads = job
    try:
        info = transcode_video(source, target, short_side=short_side, gop_size=gop_size, threads=threads)
    except VideoDecodeError as err:
        return target, None, err.reason
    return target, info, ""


def prepare_dataset(
    source_root: str | os.PathLike,
    output_root: str | os.PathLike,
    *,
    short_side: int = DEFAULT_SHORT_SIDE,
    gop_size: int = DEFAULT_GOP_SIZE,
    num_workers: int = 1,
    output_format: str = "folder",
    dataset_format: str = "auto",
    split: int = 1,
    shard_mb: int = DEFAULT_SHARD_MB,
    progress: bool = True,
) -> PrepareReport:
    """Re-encode every video under `source_root` into `output_root` (same relative paths, `.mp4`), copy every
    other file, record the frame counts in the loaders' metadata cache; see the module docstring.

    num_workers: processes, one video each. output_format "parquet" puts the copy in `output_root / "videos"` and
    writes its splits (`dataset_format`, official `split` of UCF-101 / HMDB-51) as Parquet shards of about
    `shard_mb` MB in `output_root / "data"`.
    """
    start = time.perf_counter()
    source_root, parquet_root = Path(source_root), Path(output_root)
    output_root = parquet_root / PARQUET_VIDEOS_DIR if output_format == "parquet" else parquet_root
    if not source_root.is_dir():
        raise FileNotFoundError(f"source dataset folder {source_root} does not exist")
    if (
        output_root.resolve() == source_root.resolve()
        or source_root.resolve() in output_root.resolve().parents
    ):
        raise ValueError(f"the output folder {output_root} must not be the source {source_root} or inside it")
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output format must be one of {OUTPUT_FORMATS}, got '{output_format}'")
    if gop_size < 1:
        raise ValueError(f"gop_size must be >= 1, got {gop_size}")
    prepared_size(2, 2, short_side)  # validates short_side before any work
    for stale in output_root.rglob(f"*{TEMP_SUFFIX}") if output_root.is_dir() else ():
        stale.unlink()  # a stopped run's half-written video

    report = PrepareReport()
    jobs, targets = [], {}
    for relative in _source_files(source_root):
        if relative.suffix not in VIDEO_EXTENSIONS:
            (output_root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source_root / relative, output_root / relative)  # split lists, annotations
            continue
        if is_flow_video(relative):
            report.flow_videos.append(str(relative))
            continue
        target = prepared_path(relative)
        if target in targets:
            raise ValueError(
                f"{source_root / relative} and {source_root / targets[target]} would both be prepared as "
                f"{output_root / target}; keep one of them"
            )
        targets[target] = relative
        if (output_root / target).is_file():
            report.existing.append(str(target))
        else:
            threads = 1 if num_workers > 1 else 0  # processes already use the cores
            jobs.append(
                (str(source_root / relative), str(output_root / target), short_side, gop_size, threads)
            )
    if not targets:
        raise FileNotFoundError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) under {source_root}")

    cache = VideoMetadataCache(output_root)
    pool = ProcessPoolExecutor(num_workers) if num_workers > 1 and jobs else None
    results = pool.map(_prepare_one, jobs, chunksize=1) if pool is not None else map(_prepare_one, jobs)
    try:
        if progress:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(jobs), desc="prepare", unit="video", dynamic_ncols=True)
        for target, info, reason in results:
            relative = str(Path(target).relative_to(output_root))
            if info is None:
                report.failed[str(targets[Path(relative)])] = reason
                logger.warning("cannot prepare %s: %s", source_root / targets[Path(relative)], reason)
                continue
            cache.put(Path(target), info)
            report.written.append(relative)
    finally:
        if pool is not None:
            pool.shutdown()
    cache.save()
    if output_format == "parquet":
        report.shards = write_parquet(
            output_root,
            parquet_root / PARQUET_DATA_DIR,
            dataset_format=dataset_format,
            split=split,
            shard_mb=shard_mb,
        )
    report.seconds = time.perf_counter() - start
    return report


def write_parquet(
    prepared_root: str | os.PathLike,
    folder: str | os.PathLike,
    *,
    dataset_format: str = "auto",
    split: int = 1,
    shard_mb: int = DEFAULT_SHARD_MB,
) -> list[Path]:
    """Every split of the dataset at `prepared_root` as Parquet shards `folder/<split>-0000i-of-0000n.parquet` of
    rows {video: Video(decode=False) with the file's bytes and relative path, label (ClassLabel), video_frames, fps,
    width, height}; returns the shard paths. Old shards in `folder` are replaced."""
    prepared_root, folder = Path(prepared_root), Path(folder)
    splits = load_video_dataset(prepared_root, dataset_format, split=split)
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shards = []
    for name, rows in splits.items():
        features = rows.features.copy()
        features["video"] = datasets.Video(decode=False)
        paths = [video_path(cell) for cell in rows["video"]]
        groups = _shard_rows([os.path.getsize(path) for path in paths], shard_mb * 2**20)
        for index, (begin, end) in enumerate(groups):
            shard = rows.select(range(begin, end)).map(
                lambda row: {
                    "video": {
                        "bytes": Path(video_path(row["video"])).read_bytes(),
                        "path": os.path.relpath(video_path(row["video"]), prepared_root),
                    }
                },
                features=features,
            )
            path = folder / f"{name}-{index:05d}-of-{len(groups):05d}.parquet"
            shard.to_parquet(str(path))
            shards.append(path)
    return shards


def _shard_rows(sizes: list[int], max_bytes: int) -> list[tuple[int, int]]:
    """Consecutive (begin, end) row ranges of at most `max_bytes` each (at least one row per range)."""
    groups, begin, total = [], 0, 0
    for index, size in enumerate(sizes):
        if index > begin and total + size > max_bytes:
            groups.append((begin, index))
            begin, total = index, 0
        total += size
    groups.append((begin, len(sizes)))
    return groups
