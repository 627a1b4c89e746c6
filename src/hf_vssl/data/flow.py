"""Optical flow for ViCC's flow stream: extraction (OpenCV) and ViCC's image encoding of flow.

Encoding (ViCC supp. / ViCC code): flow (u, v) in pixels clipped to +-20, mapped to uint8 by (f + 20) * 255 /
40 and stored as an RGB image with channels (128, v, u). Flow videos are written next to the RGB videos as
`<stem>.flow.mp4` (lossless RGB H.264), one flow frame per RGB frame: flow frame i is the motion from frame i
to frame i + 1 and the last one repeats its predecessor, so RGB and flow clips share frame indices.

Extraction needs OpenCV with the contrib modules for TV-L1 (`pip install "hf-vssl[flow]"`, i.e.
opencv-contrib-python-headless); "farneback" is the faster option (plain OpenCV).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from .decoding import VideoDecodeError, decode_frames, probe_video
from .encoding import RGB_CODEC, write_video

logger = logging.getLogger(__name__)

FLOW_BOUND = 20.0  # ViCC supp. / ViCC code: flow clipped to +-20 px
FLOW_SUFFIX = ".flow"
FlowMethod = Literal["tvl1", "farneback"]
FLOW_METHODS = ("tvl1", "farneback")


def flow_path_for(video: str | os.PathLike) -> Path:
    """Where the flow video of `video` lives: `<dir>/<stem>.flow.mp4`."""
    video = Path(video)
    return video.with_name(f"{video.stem}{FLOW_SUFFIX}.mp4")


def is_flow_video(path: str | os.PathLike) -> bool:
    """Whether `path` is a flow video (so dataset scans do not take it for an RGB one)."""
    return Path(path).stem.endswith(FLOW_SUFFIX)


def encode_flow(flow: np.ndarray) -> np.ndarray:
    """Flow (..., H, W, 2) as (u, v) pixels -> ViCC's uint8 image (..., H, W, 3) with channels (128, v, u)."""
    if flow.shape[-1] != 2:
        raise ValueError(f"flow must end with a (u, v) axis of size 2, got shape {flow.shape}")
    quantised = np.rint((np.clip(flow, -FLOW_BOUND, FLOW_BOUND) + FLOW_BOUND) * 255.0 / (2 * FLOW_BOUND))
    quantised = quantised.astype(np.uint8)
    constant = np.full(flow.shape[:-1], 128, dtype=np.uint8)
    return np.stack([constant, quantised[..., 1], quantised[..., 0]], axis=-1)


def decode_flow(image: np.ndarray) -> np.ndarray:
    """ViCC's uint8 flow image (..., H, W, 3) -> float32 flow (..., H, W, 2) as (u, v) pixels."""
    values = image[..., [2, 1]].astype(np.float32)
    return values * (2 * FLOW_BOUND / 255.0) - FLOW_BOUND


def _cv2():
    try:
        import cv2
    except ImportError as err:
        raise ImportError(
            "optical-flow extraction needs OpenCV: pip install 'hf-vssl[flow]' "
            "(opencv-contrib-python-headless, which also provides TV-L1)"
        ) from err
    return cv2


def compute_flow(frames: np.ndarray, method: FlowMethod = "tvl1") -> np.ndarray:
    """Optical flow between consecutive frames of uint8 (T, H, W, 3) RGB: float32 (T - 1, H, W, 2) (u, v) px.

    tvl1: OpenCV's DualTVL1 with its defaults (the TV-L1 of CoCLR/ViCC's flow); farneback: much faster.
    """
    if method not in FLOW_METHODS:
        raise ValueError(f"flow method must be one of {FLOW_METHODS}, got {method!r}")
    cv2 = _cv2()
    if method == "tvl1":
        if not hasattr(cv2, "optflow"):
            raise ImportError(
                "TV-L1 flow needs OpenCV's contrib modules: pip install opencv-contrib-python-headless "
                "(or use method='farneback')"
            )
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
    flows = []
    for previous, current in itertools.pairwise(gray):
        if method == "tvl1":
            flows.append(tvl1.calc(previous, current, None))
        else:
            flows.append(cv2.calcOpticalFlowFarneback(previous, current, None, 0.5, 3, 15, 3, 5, 1.2, 0))
    return np.stack(flows).astype(np.float32)


def extract_flow_video(
    video: str | os.PathLike,
    *,
    method: FlowMethod = "tvl1",
    short_side: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Compute the flow of `video` and write it to `flow_path_for(video)`; an existing flow video is kept
    unless `overwrite` (resumable). The file appears only once complete (written under a temporary name)."""
    target = flow_path_for(video)
    if target.is_file() and not overwrite:
        return target
    video_frames = probe_video(video).video_frames
    frames = decode_frames(video, np.arange(video_frames), short_side=short_side)
    if len(frames) < 2:
        raise VideoDecodeError(video, "optical flow needs at least two frames")
    flow = compute_flow(frames, method)
    flow = np.concatenate([flow, flow[-1:]])  # one flow frame per RGB frame: the last repeats
    partial = target.with_name(f"{Path(video).stem}.partial{FLOW_SUFFIX}.mp4")
    write_video(partial, encode_flow(flow), fps=probe_video(video).fps, codec=RGB_CODEC)
    os.replace(partial, target)
    return target


@dataclass
class FlowExtractionReport:
    written: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _extract_one(args: tuple[str, FlowMethod, int | None, bool]) -> tuple[str, str, str]:
    video, method, short_side, overwrite = args
    existed = flow_path_for(video).is_file() and not overwrite
    try:
        extract_flow_video(video, method=method, short_side=short_side, overwrite=overwrite)
    except VideoDecodeError as err:
        return video, "failed", str(err)
    return video, "existing" if existed else "written", ""


def extract_flow_videos(
    videos: Sequence[str | os.PathLike],
    *,
    method: FlowMethod = "tvl1",
    short_side: int | None = None,
    overwrite: bool = False,
    num_workers: int = 1,
    progress: bool = False,
) -> FlowExtractionReport:
    """Flow videos for many videos, in `num_workers` processes; done ones are skipped (resume after a stop),
    unreadable ones are reported, not fatal."""
    _cv2()  # fail before starting workers when OpenCV is missing
    jobs = [(str(video), method, short_side, overwrite) for video in videos]
    report = FlowExtractionReport()
    if num_workers > 1:
        pool = ProcessPoolExecutor(num_workers)
        results = pool.map(_extract_one, jobs, chunksize=1)
    else:
        pool, results = None, map(_extract_one, jobs)
    try:
        if progress:
            from tqdm import tqdm

            results = tqdm(results, total=len(jobs), desc=f"flow ({method})", unit="video")
        for video, status, error in results:
            if status == "failed":
                report.failed[video] = error
                logger.warning("flow extraction failed: %s", error)
            else:
                getattr(report, status).append(video)
    finally:
        if pool is not None:
            pool.shutdown()
    return report
