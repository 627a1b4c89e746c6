"""Video decoding with PyAV: probe a file once, then decode only the frames a sample needs.

`datasets` 5 decodes video through torchcodec, which this project cannot use, so every clip is read here:
seek to the key frame before the first needed frame, decode forward to the last needed one (threaded) but
send the decoder only the key-frame groups that hold a needed frame, convert and optionally resize each kept
frame in FFmpeg's swscale, and return uint8 (N, H, W, 3). A video is a file path or its bytes (a
`Video(decode=False)` row of a Parquet dataset, see `hf-vssl prepare --format parquet`).

A video that would hurt a data worker (`DecodeLimits`: frames too large, too many frames, a decode that
takes too long) is a `VideoDecodeError` like a corrupt one: skipped and counted in training, reported
in evaluation. Size and length are read from the stream's metadata, before any frame is allocated.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

# a container's frame count may over-report the decodable frames by a frame or two (e.g. a last frame that
# is only partially written); indices in that tolerance read the last decoded frame, more is a truncated file
FRAME_COUNT_TOLERANCE = 2

# swscale interpolation for the optional resize: area averaging antialiases the usual downscaling and, with
# one reformatter reused for all frames of a call, is ~4x faster than swscale's bilinear (benchmarks/)
RESIZE_INTERPOLATION = "AREA"


@dataclass(frozen=True)
class DecodeLimits:
    """What one video may cost a data worker; a video past a limit is refused as undecodable."""

    max_frame_pixels: int = field(
        default=7680 * 4320,
        metadata={"help": "frame width x height; default 8K UHD (a 16k x 16k frame is 805 MB of RGB)"},
    )
    max_video_frames: int = field(
        default=500_000, metadata={"help": "frames in the stream; default ~2.3 hours at 60 fps"}
    )
    max_decode_seconds: float = field(
        default=60.0,
        metadata={"help": "wall-clock seconds to decode one video's clip; a tiny clip takes well under 1 s"},
    )

    def __post_init__(self) -> None:
        for item in fields(self):
            if not getattr(self, item.name) > 0:
                raise ValueError(f"DecodeLimits.{item.name} must be > 0, got {getattr(self, item.name)}")


DEFAULT_LIMITS = DecodeLimits()


# a video to read: a file path, or the encoded file's bytes (read from memory, never written to disk)
VideoSource = str | os.PathLike | bytes


def source_name(source: VideoSource) -> str:
    """How errors and logs name a video: its path, or its size when it is held in memory."""
    return f"<{len(source)} bytes of video in memory>" if isinstance(source, bytes) else str(source)


def video_path(value: Any) -> str:
    """The file path of a video cell: a path string or a `Video(decode=False)` dict."""
    if isinstance(value, dict):
        if not value.get("path"):
            held = f"only {len(value['bytes'])} bytes" if value.get("bytes") else "nothing"
            raise ValueError(
                f"a video cell without a file path ({held}); this step needs the video as a file"
            )
        return value["path"]
    return os.fspath(value)


def video_source(value: Any) -> VideoSource:
    """What to decode for a video cell: a `Video(decode=False)` dict's bytes when it holds them, else its path."""
    if isinstance(value, dict) and value.get("bytes"):
        return value["bytes"]
    return video_path(value)


def video_name(value: Any) -> str:
    """How logs and skip reports name a video cell: its path; a cell decoded from memory by the path it records
    (the file it was read from, e.g. `<Class>/<file>.mp4` of a prepared Parquet shard) and its size."""
    source = video_source(value)
    if isinstance(source, bytes) and value.get("path"):
        return f"{value['path']} ({len(source)} bytes in memory)"
    return source_name(source)


def undecoded(dataset: Any, column: str) -> Any:
    """`dataset` with a decoding `Video` column cast to `Video(decode=False)`: datasets 5 decodes video with
    torchcodec, which this project does not use; every clip is decoded by PyAV (`hf_vssl.data.decoding`)."""
    import datasets  # only callers that already hold a datasets.Dataset get here

    feature = dataset.features.get(column)
    if isinstance(feature, datasets.Video) and feature.decode:
        return dataset.cast_column(column, datasets.Video(decode=False))
    return dataset


class VideoDecodeError(ValueError):
    """A video that cannot be (fully) decoded: missing, empty, unreadable or truncated. `.path` names it."""

    def __init__(self, path: VideoSource, reason: str):
        self.path = source_name(path)
        self.reason = reason
        super().__init__(f"cannot decode video '{self.path}': {reason}")


@dataclass(frozen=True)
class VideoInfo:
    """What the samplers and loaders need to know about a video without decoding it."""

    video_frames: int
    fps: float
    width: int
    height: int


def _open(path: VideoSource, limits: DecodeLimits) -> av.container.InputContainer:
    """Open `path` (or bytes) for reading; any failure, or a stream past `limits`, becomes a
    `VideoDecodeError` naming the file."""
    if isinstance(path, bytes):
        if not path:
            raise VideoDecodeError(path, "the video is empty (0 bytes)")
    elif not os.path.isfile(path):
        raise VideoDecodeError(path, "the file does not exist")
    elif os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "the file is empty (0 bytes)")
    try:
        container = av.open(io.BytesIO(path) if isinstance(path, bytes) else str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise VideoDecodeError(path, f"FFmpeg cannot open it ({err})") from err
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(path, "it has no video stream")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    excess = None
    if width * height > limits.max_frame_pixels:
        excess = f"its frames are {width}x{height}, over max_frame_pixels {limits.max_frame_pixels}"
    elif stream.frames > limits.max_video_frames:
        excess = f"it has {stream.frames} frames, over max_video_frames {limits.max_video_frames}"
    if excess is not None:
        container.close()
        raise VideoDecodeError(path, f"refused: {excess} (DecodeLimits)")
    return container


def _frame_rate(stream: av.video.stream.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise ValueError("no frame rate")
    return float(rate)


def probe_video(path: VideoSource, limits: DecodeLimits = DEFAULT_LIMITS) -> VideoInfo:
    """Frame count, fps and size of `path`, read from the container; counts packets when the header has no count.

    Raises `VideoDecodeError` when the file cannot be opened, holds no frame or is past `limits`.
    """
    container = _open(path, limits)
    try:
        stream = container.streams.video[0]
        video_frames = stream.frames
        if video_frames <= 0:  # webm / some avi carry no count in the header: count the packets (no decoding)
            video_frames = sum(1 for packet in container.demux(stream) if packet.size > 0)
            if video_frames > limits.max_video_frames:
                raise VideoDecodeError(
                    path,
                    f"refused: it has {video_frames} frames, over max_video_frames {limits.max_video_frames}",
                )
        width, height = stream.codec_context.width, stream.codec_context.height
        try:
            fps = _frame_rate(stream)
        except ValueError:
            raise VideoDecodeError(path, "the video stream has no frame rate") from None
    except av.FFmpegError as err:
        raise VideoDecodeError(path, f"FFmpeg failed while reading it ({err})") from err
    finally:
        container.close()
    if video_frames <= 0 or width <= 0 or height <= 0:
        raise VideoDecodeError(path, f"it holds no decodable frame ({video_frames} frames, {width}x{height})")
    return VideoInfo(video_frames=int(video_frames), fps=fps, width=int(width), height=int(height))


def short_side_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(H, W) with the shorter side equal to `short_side` and the aspect ratio kept (rounded to even)."""
    scale = short_side / min(height, width)
    if height <= width:
        return short_side, 2 * round(width * scale / 2)
    return 2 * round(height * scale / 2), short_side


def decode_frames(
    path: VideoSource,
    indices: Sequence[int] | np.ndarray,
    *,
    size: tuple[int, int] | None = None,
    short_side: int | None = None,
    threads: int = 0,
    skip_unneeded: bool = True,
    stats: dict[str, int] | None = None,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> np.ndarray:
    """Frames `indices` of `path` (a file, or its bytes) as uint8 (len(indices), H, W, 3) RGB.

    indices: 0-based, in any order, repeats allowed; each distinct frame is decoded once.
    size: (H, W) to resize to while decoding (None, or the video's own size: no resize); short_side: resize
        keeping the aspect ratio (not both).
    threads: FFmpeg decoder threads (0 = FFmpeg's choice); data workers decoding in parallel may want 1.
    skip_unneeded: key-frame groups between the first and last needed frame that hold no needed frame are
        read but not decoded (False decodes every frame of that span, the behaviour before; for benchmarks).
    stats: if given, stats["decoded"] is increased by the frames the decoder produced (benchmarks).
    Raises `VideoDecodeError` (naming the file) for a missing, empty, unreadable or truncated video, and for
    one past `limits`.
    """
    if size is not None and short_side is not None:
        raise ValueError("decode_frames: give `size` or `short_side`, not both")
    wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
    if wanted.size == 0:
        raise ValueError(f"decode_frames: no frame index given for '{path}'")
    if wanted.min() < 0:
        raise ValueError(f"decode_frames: negative frame index {int(wanted.min())} for '{path}'")
    needed = np.unique(wanted)
    first, last = int(needed[0]), int(needed[-1])

    container = _open(path, limits)
    deadline = time.monotonic() + limits.max_decode_seconds
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        if short_side is not None:
            size = short_side_size(stream.codec_context.height, stream.codec_context.width, short_side)
        if size is not None and tuple(size) == (stream.codec_context.height, stream.codec_context.width):
            size = None  # already the wanted size (a prepared dataset): convert only
        frames = _decode_range(container, stream, needed, first, last, size, skip_unneeded, stats, deadline)
    except av.FFmpegError as err:
        raise VideoDecodeError(path, f"FFmpeg failed while decoding it ({err})") from err
    except TimeoutError:
        raise VideoDecodeError(
            path, f"refused: decoding took over max_decode_seconds {limits.max_decode_seconds} (DecodeLimits)"
        ) from None
    finally:
        container.close()

    if not frames:
        raise VideoDecodeError(path, "it holds no decodable frame")
    decoded_last = max(frames)
    if last > decoded_last:
        if last - decoded_last > FRAME_COUNT_TOLERANCE or decoded_last < first:
            raise VideoDecodeError(
                path,
                f"frame {last} was requested but decoding stopped after frame {decoded_last} (truncated file?)",
            )
        for index in needed[needed > decoded_last]:
            frames[int(index)] = frames[decoded_last]
    return np.stack([frames[int(index)] for index in wanted])


def _decode_range(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    needed: np.ndarray,
    first: int,
    last: int,
    size: tuple[int, int] | None,
    skip_unneeded: bool,
    stats: dict[str, int] | None,
    deadline: float,
) -> dict[int, np.ndarray]:
    """Decode frames up to `last` (keeping those in `needed`), seeking to the key frame before `first` when the
    timestamps allow it. When the video ends early its final frame is kept too (see FRAME_COUNT_TOLERANCE).
    Past `deadline` (time.monotonic) it raises TimeoutError.

    A frame's index is its presentation time times the frame rate. When timestamps are missing, the seek lands
    after `first`, or a needed frame has no timestamp of its own (variable frame rate), it decodes from the
    start and counts frames instead, which is exact.
    """
    keep = set(needed.tolist())
    height, width = size if size is not None else (None, None)
    reformatter = VideoReformatter()  # one swscale context for all frames: building one per frame is slow

    def convert(frame: av.VideoFrame) -> np.ndarray:
        return reformatter.reformat(
            frame, width=width, height=height, format="rgb24", interpolation=RESIZE_INTERPOLATION
        ).to_ndarray()

    def collect(decoded: Iterable[tuple[int | None, av.VideoFrame]]) -> dict[int, np.ndarray] | None:
        frames: dict[int, np.ndarray] = {}
        final = None
        for index, frame in decoded:
            if time.monotonic() > deadline:
                raise TimeoutError
            if stats is not None:
                stats["decoded"] = stats.get("decoded", 0) + 1
            if index is None or (final is None and index > first):
                return None  # positions cannot be trusted
            final = (index, frame)
            if index in keep:
                frames[index] = convert(frame)
            if index >= last:
                return frames
        if final is not None and final[0] not in frames:
            frames[final[0]] = convert(final[1])
        return frames

    time_base, start_pts = stream.time_base, stream.start_time or 0
    try:
        fps = _frame_rate(stream)
    except ValueError:
        fps = None
    if fps is not None and time_base is not None:

        def index_of(pts: int | None) -> int | None:
            return None if pts is None else round(float((pts - start_pts) * time_base) * fps)

        if first > 0:
            container.seek(
                start_pts + int(first / fps / time_base), backward=True, any_frame=False, stream=stream
            )
        decoded = _decode_needed(container, stream, needed.tolist(), index_of, skip_unneeded)
        frames = collect((index_of(frame.pts), frame) for frame in decoded)
        if frames and all(index in frames for index in keep if index <= max(frames)):
            return frames
        container.seek(start_pts, backward=True, any_frame=False, stream=stream)
    return collect(enumerate(container.decode(stream))) or {}


def _decode_needed(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    needed: list[int],
    index_of: Callable[[int | None], int | None],
    skip_unneeded: bool,
) -> Iterator[av.VideoFrame]:
    """Frames decoded forward from the container's position, skipping the key-frame groups without a needed frame.

    Packets are held back from the decoder until one reaches the next needed frame (in presentation order, so
    reordered B-frames are handled); a key frame drops the packets held before it, which only the group it ends
    would have needed. A needed frame shown before that key frame (an open group's leading picture) keeps them.
    Packets without a timestamp are always decoded. Pace's two clips (paces 1-4, wrapping to frame 0) decode 74
    frames per sample for 31 used instead of 134 on 320x240 H.264 with GOP 12 (benchmarks/bench_data.py).
    """
    waiting = sorted(needed)  # needed frames whose packet has not reached the decoder yet
    held: list[av.Packet] = []
    for packet in container.demux(stream):
        if not packet.size:  # the demuxer's end-of-stream packet
            break
        index = index_of(packet.pts)
        if skip_unneeded and index is not None:
            if packet.is_keyframe and (not waiting or waiting[0] >= index):
                held.clear()
            held.append(packet)
            if not waiting or index < waiting[0]:
                continue
        else:
            held.append(packet)
        for queued in held:
            yield from stream.decode(queued)
            position = index_of(queued.pts)
            if position in waiting:
                waiting.remove(position)
        held.clear()
        if not waiting and skip_unneeded:
            break
    for queued in held:  # the video ended before a needed frame: its last frames (FRAME_COUNT_TOLERANCE)
        yield from stream.decode(queued)
    yield from stream.decode(None)  # the frames the decoder still holds (reordering, frame threads)
