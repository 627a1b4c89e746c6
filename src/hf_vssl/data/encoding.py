"""Writing video files with PyAV's bundled encoders (synthetic datasets, optical-flow videos, test fixtures)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class VideoCodec:
    """An FFmpeg encoder, its pixel format and options."""

    name: str
    pix_fmt: str
    options: dict[str, str]


# the container's extension picks the codec: H.264 in mp4, MPEG-4 part 2 in avi (UCF-101/HMDB-51's), VP9 in webm
CODECS: dict[str, VideoCodec] = {
    ".mp4": VideoCodec("libx264", "yuv420p", {"preset": "veryfast", "crf": "18"}),
    ".avi": VideoCodec("mpeg4", "yuv420p", {"qscale:v": "3"}),
    ".webm": VideoCodec(
        "libvpx-vp9", "yuv420p", {"deadline": "realtime", "cpu-used": "8", "crf": "20", "b:v": "0"}
    ),
}
# RGB-exact H.264 (no chroma subsampling): optical flow stores u and v in separate colour channels
RGB_CODEC = VideoCodec("libx264rgb", "rgb24", {"preset": "veryfast", "crf": "0"})


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    *,
    fps: float = 25.0,
    codec: VideoCodec | None = None,
    gop_size: int = 12,
) -> Path:
    """Encode uint8 RGB `frames: (T, H, W, 3)` into `path`; the extension picks the codec unless `codec` is given.

    gop_size: frames between key frames (small values make seeking cheap and exercise it in tests).
    H and W must be even for the 4:2:0 codecs.
    """
    path = Path(path)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"write_video: frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if codec is None:
        if path.suffix not in CODECS:
            raise ValueError(
                f"write_video: no codec for '{path.suffix}' ({path}); use one of {sorted(CODECS)}"
            )
        codec = CODECS[path.suffix]
    height, width = frames.shape[1:3]
    if codec.pix_fmt.endswith("420p") and (height % 2 or width % 2):
        raise ValueError(
            f"write_video: {codec.name} needs an even frame size, got {height}x{width} for {path}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec.name, rate=round(fps), options=dict(codec.options))
        stream.width, stream.height, stream.pix_fmt = width, height, codec.pix_fmt
        stream.codec_context.gop_size = gop_size
        stream.thread_type = "AUTO"
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
