"""Video decoding with PyAV: probe a file once, then decode only the frames a sample needs.

`datasets` 5 decodes video through torchcodec, which this project cannot use, so every clip is read here:
seek to the key frame before the first needed frame, decode forward to the last needed one (threaded),
convert and optionally resize each kept frame in FFmpeg's swscale, and return uint8 (N, H, W, 3).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import VideoReformatter

# a container's frame count may over-report the decodable frames by a frame or two (e.g. a last frame that
# is only partially written); indices in that tolerance read the last decoded frame, more is a truncated file
FRAME_COUNT_TOLERANCE = 2

# swscale interpolation for the optional resize: area averaging antialiases the usual downscaling and, with
# one reformatter reused for all frames of a call, is ~4x faster than swscale's bilinear (benchmarks/)
RESIZE_INTERPOLATION = "AREA"


class VideoDecodeError(ValueError):
    """A video that cannot be (fully) decoded: missing, empty, unreadable or truncated. `.path` names it."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode video '{self.path}': {reason}")


@dataclass(frozen=True)
class VideoInfo:
    """What the samplers and loaders need to know about a video without decoding it."""

    num_frames: int
    fps: float
    width: int
    height: int


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    """Open `path` for reading; any failure becomes a `VideoDecodeError` naming the file."""
    if not os.path.isfile(path):
        raise VideoDecodeError(path, "the file does not exist")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "the file is empty (0 bytes)")
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise VideoDecodeError(path, f"FFmpeg cannot open it ({err})") from err
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(path, "it has no video stream")
    return container


def _frame_rate(stream: av.video.stream.VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise ValueError("no frame rate")
    return float(rate)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame count, fps and size of `path`, read from the container; counts packets when the header has no count.

    Raises `VideoDecodeError` when the file cannot be opened or holds no frame.
    """
    container = _open(path)
    try:
        stream = container.streams.video[0]
        num_frames = stream.frames
        if num_frames <= 0:  # webm / some avi carry no count in the header: count the packets (no decoding)
            num_frames = sum(1 for packet in container.demux(stream) if packet.size > 0)
        width, height = stream.codec_context.width, stream.codec_context.height
        try:
            fps = _frame_rate(stream)
        except ValueError:
            raise VideoDecodeError(path, "the video stream has no frame rate") from None
    except av.FFmpegError as err:
        raise VideoDecodeError(path, f"FFmpeg failed while reading it ({err})") from err
    finally:
        container.close()
    if num_frames <= 0 or width <= 0 or height <= 0:
        raise VideoDecodeError(path, f"it holds no decodable frame ({num_frames} frames, {width}x{height})")
    return VideoInfo(num_frames=int(num_frames), fps=fps, width=int(width), height=int(height))


def short_side_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(H, W) with the shorter side equal to `short_side` and the aspect ratio kept (rounded to even)."""
    scale = short_side / min(height, width)
    if height <= width:
        return short_side, 2 * round(width * scale / 2)
    return 2 * round(height * scale / 2), short_side


def decode_frames(
    path: str | os.PathLike,
    indices: Sequence[int] | np.ndarray,
    *,
    size: tuple[int, int] | None = None,
    short_side: int | None = None,
    threads: int = 0,
) -> np.ndarray:
    """Frames `indices` of `path` as uint8 (len(indices), H, W, 3) RGB.

    indices: 0-based, in any order, repeats allowed; each distinct frame is decoded once.
    size: (H, W) to resize to while decoding; short_side: resize keeping the aspect ratio (not both).
    threads: FFmpeg decoder threads (0 = FFmpeg's choice); data workers decoding in parallel may want 1.
    Raises `VideoDecodeError` (naming the file) for a missing, empty, unreadable or truncated video.
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

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        if short_side is not None:
            size = short_side_size(stream.codec_context.height, stream.codec_context.width, short_side)
        frames = _decode_range(container, stream, needed, first, last, size)
    except av.FFmpegError as err:
        raise VideoDecodeError(path, f"FFmpeg failed while decoding it ({err})") from err
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
) -> dict[int, np.ndarray]:
    """Decode frames up to `last` (keeping those in `needed`), seeking to the key frame before `first` when the
    timestamps allow it. When the video ends early its final frame is kept too (see FRAME_COUNT_TOLERANCE).

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
    if first > 0 and fps is not None and time_base is not None:
        container.seek(
            start_pts + int(first / fps / time_base), backward=True, any_frame=False, stream=stream
        )
        timed = (
            (None if frame.pts is None else round(float((frame.pts - start_pts) * time_base) * fps), frame)
            for frame in container.decode(stream)
        )
        frames = collect(timed)
        if frames and all(index in frames for index in keep if index <= max(frames)):
            return frames
        container.seek(start_pts, backward=True, any_frame=False, stream=stream)
    return collect(enumerate(container.decode(stream))) or {}
