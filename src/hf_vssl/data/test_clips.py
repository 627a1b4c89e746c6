"""The test clips of a video, decoded for a model: what evaluation, the training monitor and feature
extraction feed a backbone (the processor's clips, uint8, decoded in data workers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .decoding import (
    VideoDecodeError,
    VideoInfo,
    VideoSource,
    decode_frames,
    probe_video,
    undecoded,
    video_name,
    video_source,
)
from .processor import VsslVideoProcessor

# the dataset column each input stream reads: RGB videos, or the flow videos of `hf-vssl extract-flow`
STREAM_COLUMNS = {"rgb": "video", "flow": "flow"}


class TestClipDataset(Dataset):
    """Item i: every clip of video i, decoded at the processor's frame size: uint8 (n, T, H, W, C), with
    each clip's first frame (`start_frames`, (n,)) and the video's frame rate (`fps`), which time the clips;
    an undecodable video gives `clips` None and the reason in `error` (the caller skips or raises).

    The video column holds paths or `Video(decode=False)` cells; a cell with bytes (a Parquet shard, a
    Hub dataset) is decoded from memory and named by the path it records (`video_name`). label_column:
    None for videos without classes (their `label` is -1)."""

    def __init__(
        self,
        dataset: Any,
        processor: VsslVideoProcessor,
        video_column: str = "video",
        label_column: str | None = "label",
    ):
        missing = {video_column, label_column} - set(dataset.column_names) - {None}
        if missing:
            raise ValueError(
                f"the dataset has no column(s) {sorted(missing)}; columns: {dataset.column_names}"
            )
        self.dataset, self.processor = undecoded(dataset, video_column), processor
        self.video_column, self.label_column = video_column, label_column

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.dataset[index]
        cell = row[self.video_column]
        label = -1 if self.label_column is None else int(row[self.label_column])
        item = {"label": label, "index": index, "path": video_name(cell), "clips": None}
        try:
            item |= self._decode(row, video_source(cell))
        except VideoDecodeError as err:
            item["error"] = err.reason
        return item

    def clip_indices(self, info: VideoInfo) -> np.ndarray:
        """Frame indices (n, T) of the clips of a video: the processor's test clips."""
        return self.processor.clip_indices(info.video_frames)

    def _decode(self, row: dict[str, Any], path: VideoSource) -> dict[str, Any]:
        size = self.processor.frame_size
        if row.get("video_frames") is None or row.get("fps") is None or isinstance(size, int):
            info = probe_video(path)  # the video's length, rate or size is needed
        else:
            info = VideoInfo(int(row["video_frames"]), float(row["fps"]), row.get("width"), row.get("height"))
        if isinstance(size, int):
            size = self.processor.decode_size(info.height, info.width)
        indices = self.clip_indices(info)  # (n, T); each distinct frame decodes once
        frames = decode_frames(path, indices.reshape(-1), size=None if size is None else tuple(size))
        return {
            "clips": torch.from_numpy(frames.reshape(*indices.shape, *frames.shape[1:])),  # (n, T, H, W, C)
            "start_frames": torch.from_numpy(indices[:, 0].copy()),
            "fps": info.fps,
        }


def model_input(pixel_values: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Normalised 3-channel clips (N, 3, T, H, W) -> the network's `in_channels`: a 2-channel flow
    network takes (v, u) of the (128, v, u) flow image, the constant channel dropped after
    normalisation, as ViCC's training views (`ViCCAugment`, `flow_channels=2`)."""
    if in_channels == pixel_values.shape[1]:
        return pixel_values
    if in_channels == 2 and pixel_values.shape[1] == 3:
        return pixel_values[:, 1:]
    raise ValueError(
        f"the network takes {in_channels}-channel clips, the processor gives {pixel_values.shape[1]} channels"
    )
