"""`VideoClipDataset`: rows of a `datasets.Dataset` -> decoded uint8 clips of every view a sampler asks for.

The CPU data workers only sample indices, decode and resize; augmentation runs batched on the accelerator
(`hf_vssl.data.augment`). Each needed frame is decoded once per sample (the union of all views' indices) and
gathered per view. The per-sample random state derives from (seed, epoch, index, attempt), so a run is
reproducible and resumable whatever the number of workers.

Repeated sampling (`repeated_samples` K > 1, VideoMAE v2's `--num_sample`): one item draws K independent
samples of its video from that random state, decodes the union of their frames in one pass and returns them
stacked; `collate_repeated` flattens the K samples into the batch, so the device augmentation gives each its
own random parameters. Unlike VideoMAE v2, whose K samples augment one decoded clip, each sample here draws
its own clip positions (the sampler runs K times); a frame two samples share is still decoded once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import datasets
import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from .decoding import (
    DEFAULT_LIMITS,
    DecodeLimits,
    VideoDecodeError,
    VideoSource,
    decode_frames,
    probe_video,
    undecoded,
    video_name,
    video_path,
    video_source,
)
from .samplers import ClipSampler

logger = logging.getLogger(__name__)

FLOW_VIEW_PREFIX = "flow"
# the item keys that hold one entry per sample (flattened by `collate_repeated`); "num_skipped" counts per read
PER_SAMPLE_KEYS = ("views", "targets", "label", "index")


class VideoClipDataset(Dataset):
    """Map-style dataset of sampled clips.

    dataset: rows with a video column (paths, or a `Video(decode=False)` feature whose rows may hold the file's
        bytes, as `hf-vssl prepare --format parquet` writes: those are read row by row and decoded from memory),
        a label column (optional: -1 without it), optionally `video_frames` (probed metadata; probed here when
        absent or None) and a flow-video column for views named "flow*". A decoding `Video` column is cast to
        `Video(decode=False)` (`undecoded`).
    sampler: (video_frames, rng) -> SampledClips (see `hf_vssl.data.samplers`).
    frame_size: (H, W) every frame is resized to while decoding (default 128x171, the papers' resize), or None
        to keep each video's own size (a prepared dataset whose videos share one size: no resize at all).
    epoch_repeats: passes over the videos per epoch (Pace's release repeats its video list 10x): item i
        reads video i mod N, each repeat with its own random clip (the random state uses i).
    skip_corrupt: an undecodable video is logged, counted in the item's `num_skipped`, recorded in
        `skipped_paths` (per process) and replaced by another row drawn at random; False raises instead
        (evaluation should see every video).
    repeated_samples: K independent samples (clip positions) of the item's video from one decode; every
        per-sample entry of the item gains a leading K dimension, and `collate_fn` flattens them into the batch.
    decode_limits: frame size, frame count and decode time a video may take (`DecodeLimits`); a video past
        them is skipped and counted as an undecodable one.

    Item: {"views": {name: uint8 (T, H, W, 3) or (num_clips, T, H, W, 3)}, "targets": {name: tensor},
    "label": int64, "index": int64 (the row actually used), "num_skipped": int64}; `collate_fn` batches it
    (torch's default collate when K is 1).
    """

    def __init__(
        self,
        dataset: datasets.Dataset,
        sampler: ClipSampler,
        *,
        # MFO and Pace Prediction supp.: resize to 128x171, crop 112
        frame_size: tuple[int, int] | None = (128, 171),
        video_column: str = "video",
        flow_column: str = "flow",
        label_column: str = "label",
        seed: int = 0,
        skip_corrupt: bool = True,
        max_attempts: int = 20,
        decode_threads: int = 1,
        epoch_repeats: int = 1,
        repeated_samples: int = 1,
        decode_limits: DecodeLimits = DEFAULT_LIMITS,
    ):
        if video_column not in dataset.column_names:
            raise ValueError(
                f"video_column '{video_column}' is not a column; the dataset has {dataset.column_names}"
            )
        if frame_size is not None and (len(frame_size) != 2 or min(frame_size) < 1):
            raise ValueError(f"frame_size must be (H, W) with positive sides or None, got {frame_size}")
        dataset = undecoded(undecoded(dataset, video_column), flow_column)
        self.sampler = sampler
        if epoch_repeats < 1:
            raise ValueError(f"epoch_repeats must be >= 1, got {epoch_repeats}")
        if repeated_samples < 1:
            raise ValueError(f"repeated_samples must be >= 1, got {repeated_samples}")
        self.repeated_samples = repeated_samples
        self.frame_size = tuple(frame_size) if frame_size is not None else None
        self.epoch_repeats = epoch_repeats
        self.seed = seed
        self.skip_corrupt = skip_corrupt
        self.max_attempts = max_attempts
        self.decode_threads = decode_threads
        self.decode_limits = decode_limits
        # plain lists: cheap to index and to copy into worker processes; video bytes stay in the (memory-mapped)
        # Arrow table and are read one row at a time
        in_table = isinstance(dataset.features[video_column], datasets.Video)
        self._video_rows = dataset.select_columns([video_column]) if in_table else None
        self._videos = None if in_table else [video_path(value) for value in dataset[video_column]]
        self.video_column = video_column
        columns = dataset.column_names
        self._labels = list(dataset[label_column]) if label_column in columns else None
        self._video_frames = list(dataset["video_frames"]) if "video_frames" in columns else None
        self._flows = list(dataset[flow_column]) if flow_column in columns else None
        self.flow_column = flow_column
        # shared memory: `set_epoch` in the main process reaches persistent DataLoader workers too
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self.skipped_paths: list[str] = []

    def __len__(self) -> int:
        return self.num_videos * self.epoch_repeats

    @property
    def num_videos(self) -> int:
        return len(self._video_rows) if self._video_rows is not None else len(self._videos)

    def _video(self, row: int) -> Any:
        """The video cell of `row`: a path, or a `Video(decode=False)` dict (path and/or bytes)."""
        if self._video_rows is not None:
            return self._video_rows[row][self.video_column]
        return self._videos[row]

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Call before iterating each epoch: the clips drawn depend on (seed, epoch, index)."""
        self._epoch.fill_(epoch)

    @property
    def collate_fn(self) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
        """The DataLoader's collate: K samples per item are flattened into the batch (`collate_repeated`)."""
        return default_collate if self.repeated_samples == 1 else collate_repeated

    def __getitem__(self, index: int) -> dict[str, Any]:
        row, skipped = int(index) % self.num_videos, 0
        for attempt in range(self.max_attempts):
            rng = np.random.default_rng([self.seed, self.epoch, int(index), attempt])
            if attempt:
                row = int(rng.integers(self.num_videos))
            try:
                views, targets = self._load(row, rng)
            except VideoDecodeError as err:
                if not self.skip_corrupt:
                    raise
                skipped += 1
                self.skipped_paths.append(err.path)
                logger.warning("skipping an undecodable video (row %d): %s", row, err)
                continue
            per_read = () if self.repeated_samples == 1 else (self.repeated_samples,)
            label = self._labels[row] if self._labels is not None else -1
            return {
                "views": views,
                "targets": {key: torch.tensor(value) for key, value in targets.items()},
                "label": torch.full(per_read, label, dtype=torch.int64),
                "index": torch.full(per_read, row, dtype=torch.int64),
                "num_skipped": torch.tensor(skipped, dtype=torch.int64),
            }
        raise RuntimeError(
            f"{self.max_attempts} videos in a row could not be decoded (last: {self.skipped_paths[-1]}); "
            "the dataset is probably unreadable: check the video files and paths"
        )

    def _load(
        self, row: int, rng: np.random.Generator
    ) -> tuple[dict[str, torch.Tensor], dict[str, int | float]]:
        video_frames = self._video_frames[row] if self._video_frames is not None else None
        flow = self._flows[row] if self._flows is not None else None
        return self.load_views(self._video(row), video_frames, flow, rng, name=f"row {row}")

    def load_views(
        self, cell: Any, video_frames: int | None, flow: Any, rng: np.random.Generator, name: str
    ) -> tuple[dict[str, torch.Tensor], dict[str, int | float]]:
        """The views and targets of one video cell (the sampler draws from `rng`): what `__getitem__` reads
        for a row, and `hf_vssl.data.streaming` for a streamed row. name: the row in errors."""
        path = video_source(cell)
        try:
            if video_frames is None:  # not probed up front (bytes rows, unreadable files): probe it now
                video_frames = probe_video(path, self.decode_limits).video_frames
            samples = [self.sampler(video_frames, rng) for _ in range(self.repeated_samples)]
            if len(samples) == 1:
                indices, targets = samples[0].views, samples[0].targets
            else:  # (K, *view shape) indices: the K samples' frames are decoded as one union below
                indices = {key: np.stack([s.views[key] for s in samples]) for key in samples[0].views}
                targets = {key: [s.targets[key] for s in samples] for key in samples[0].targets}
            rgb_keys = [key for key in indices if not key.startswith(FLOW_VIEW_PREFIX)]
            flow_keys = [key for key in indices if key.startswith(FLOW_VIEW_PREFIX)]
            views = self._decode_views(path, {key: indices[key] for key in rgb_keys})
        except VideoDecodeError as err:  # named by the cell: a bytes row by the path it records
            raise VideoDecodeError(video_name(cell), err.reason) from err
        if flow_keys:
            if not flow:
                raise ValueError(
                    f"views {flow_keys} need optical flow but {name} ({video_name(cell)}) has no "
                    f"'{self.flow_column}' video; compute it with `hf-vssl extract-flow` and reload the dataset"
                )
            views |= self._decode_views(video_path(flow), {key: indices[key] for key in flow_keys})
        return views, targets

    def _decode_views(self, path: VideoSource, views: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Decode the union of the views' indices once, then gather each view: uint8 (*view_shape, H, W, 3)."""
        if not views:
            return {}
        flat = np.concatenate([indices.reshape(-1) for indices in views.values()])
        unique, inverse = np.unique(flat, return_inverse=True)
        frames = decode_frames(
            path, unique, size=self.frame_size, threads=self.decode_threads, limits=self.decode_limits
        )
        out, offset = {}, 0
        for key, indices in views.items():
            rows = inverse[offset : offset + indices.size]
            out[key] = torch.from_numpy(frames[rows].reshape(*indices.shape, *frames.shape[1:]))
            offset += indices.size
        return out


def collate_repeated(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch items of K samples each (`repeated_samples`): torch's default collate, then every per-sample
    entry (B/K, K, ...) -> (B, ...), a view; `num_skipped` stays one count per read video."""
    batch = default_collate(items)
    for key in PER_SAMPLE_KEYS:
        batch[key] = _flatten_samples(batch[key])
    return batch


def _flatten_samples(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _flatten_samples(entry) for key, entry in value.items()}
    return value.flatten(0, 1)
