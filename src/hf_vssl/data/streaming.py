"""Pretraining from a stream of Parquet shards (`hf-vssl pretrain --streaming`): the shards `hf-vssl prepare
--format parquet` writes, in a folder or on the Hub, read as a `datasets.IterableDataset` and decoded from memory
row by row, so a dataset larger than the disk of the training machine trains without a local copy.

How the stream is split, ordered and resumed (and why):

- Slots. Every (process, DataLoader worker) pair is one slot, a reader of its own shards: worker w of process
  r of R reads shards r + R*w, then every R*W-th after it (`IterableDataset.shard(R*W, r + R*w,
  contiguous=False)`), which is the deal `split_dataset_by_node` and then datasets' own worker split make at
  epoch 0. Unlike theirs, the deal is kept every epoch, so each slot's row count, hence the epoch's length,
  comes from the Parquet footers before training and never changes (the learning-rate schedule counts on
  it). Within a slot, shard order and rows are reshuffled every epoch (`shuffle(seed, buffer_size)` and
  `set_epoch`). Fewer shards than slots is an error naming the fix.
- Equal batches. Every worker yields the same number of batches per epoch (`StreamPlan.batches_per_worker`:
  the smallest slot's rows x epoch_repeats / batch), so the DataLoader's round-robin over workers is fixed and
  all processes step together; the rows a bigger slot holds beyond that wait for another epoch's order, as
  drop_last leaves out the tail of a map-style epoch. A slot whose rows run out early (undecodable rows are
  skipped and counted) reads its shards again in a new order.
- Exact resume. datasets' `state_dict` leaves out the shuffle buffer's content, and the states of DataLoader
  workers never reach the training process; so instead every batch carries its worker's slot and how many rows
  the slot has read (skipped ones included), `StreamLoader` records them, and a checkpoint holds every
  process's record (`StreamLoader.state_dict`). A resumed worker replays its slot's deterministic order and
  drops the rows already read before decoding anything (Parquet bytes are read, no video is decoded); each
  row's clips are drawn from (seed, epoch, slot, row position), and the workers are rotated so that the
  round-robin goes on with the worker the interrupted run would have asked next. The resumed run trains on
  the batches of the uninterrupted one, in the same order.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import datasets
import fsspec
import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .clip_dataset import VideoClipDataset
from .decoding import VideoDecodeError

logger = logging.getLogger(__name__)

# the keys a streamed item adds to the map-style item, read (and removed) by `StreamLoader`
SLOT_KEY, POSITION_KEY = "stream_role", "stream_position"


@dataclass(frozen=True)
class ParquetStream:
    """One split as a stream: the `datasets.IterableDataset` (its video column `Video(decode=False)`), its
    Parquet files in the stream's order and their row counts (read from the footers, not by iterating)."""

    dataset: datasets.IterableDataset
    files: tuple[str, ...]
    rows: tuple[int, ...]

    def template(self) -> datasets.Dataset:
        """An empty `Dataset` with the stream's features: what `VideoClipDataset` checks its columns on."""
        features = self.dataset.features
        return datasets.Dataset.from_dict({name: [] for name in features}, features=features)


def open_stream(
    path: str | os.PathLike, split: str = "train", video_column: str = "video", dataset_format: str = "auto"
) -> ParquetStream:
    """The `split` of prepared Parquet shards as a stream: a folder with `data/<split>-*.parquet`
    (`hf-vssl prepare --format parquet`), or with dataset_format "hub" (and "auto" for a path that is no
    folder) whatever `datasets.load_dataset(path, streaming=True)` streams from Parquet files: a Hub dataset id."""
    root = Path(path)
    if dataset_format not in ("auto", "parquet", "hub"):
        raise ValueError(
            f"--streaming reads Parquet shards; --dataset-format {dataset_format} is not (use auto)"
        )
    if dataset_format == "hub" or not root.is_dir():
        builder = datasets.load_dataset_builder(str(path))
        files = [str(f) for f in (builder.config.data_files or {}).get(split, [])]
        if not files or not all(f.endswith(".parquet") for f in files):
            raise ValueError(
                f"--streaming reads Parquet shards, and the '{split}' split of {path} is {files[:2] or 'absent'}; "
                "publish it with hf-vssl prepare --format parquet and push_to_hub (or drop --streaming)"
            )
        dataset = datasets.load_dataset(str(path), split=split, streaming=True)
    else:
        files = sorted(str(p) for p in (root / "data").glob(f"{split}-*.parquet"))
        if not files:
            raise FileNotFoundError(
                f"--streaming reads Parquet shards, and {root / 'data'} has no {split}-*.parquet; write them "
                "with hf-vssl prepare --format parquet (or drop --streaming)"
            )
        dataset = datasets.load_dataset("parquet", data_files={split: files}, split=split, streaming=True)
    if video_column not in dataset.features:
        raise ValueError(
            f"the stream {path} has no video column '{video_column}'; its columns are {list(dataset.features)}"
        )
    if video_column != "video":
        dataset = dataset.rename_column(video_column, "video")
    dataset = dataset.cast_column("video", datasets.Video(decode=False))
    if dataset.n_shards != len(files):
        raise ValueError(f"the stream {path} has {dataset.n_shards} shards but {len(files)} Parquet files")
    return ParquetStream(dataset, tuple(files), tuple(_footer_rows(f) for f in files))


def _footer_rows(file: str) -> int:
    with fsspec.open(file, "rb") as handle:  # a local path or an hf:// URL; the footer only
        return pq.ParquetFile(handle).metadata.num_rows


@dataclass(frozen=True)
class StreamPlan:
    """How one epoch is read: `workers` DataLoader workers per process (1 without workers), `batches_per_worker`
    batches of `batch_items` items each per worker, and where each worker's slot starts. `starts[role]`:
    (rows of the slot already read, batches already yielded) this epoch; `rotation`: worker w plays role
    (w + rotation) % workers (a resumed epoch continues the round-robin where it stopped)."""

    rank: int
    processes: int
    workers: int
    batch_items: int
    batches_per_worker: int
    epoch: int = 0
    starts: tuple[tuple[int, int], ...] = ()
    rotation: int = 0

    def slot(self, role: int) -> int:
        """The reader this process's worker `role` is: its shards are `split_dataset_by_node`'s for `rank`,
        then datasets' worker split's for `role`, as both deal them at epoch 0."""
        return self.rank + self.processes * role


class StreamingClipDataset(IterableDataset):
    """The clips of a `ParquetStream`, as `VideoClipDataset` makes them for a row (`clips.load_views`), read by
    the slot of the DataLoader worker it runs in (see the module docstring); `StreamLoader` sets its `plan`.

    shuffle_buffer_size: rows each worker shuffles in memory (`IterableDataset.shuffle(buffer_size=...)`);
    they hold the videos' bytes. epoch_repeats: passes over each slot's rows per epoch, each with its own
    order and clips (Pace's release repeats its video list). Items are `VideoClipDataset`'s, "index" being
    the row's position in its slot, plus the slot role and the rows it has read (`SLOT_KEY`, `POSITION_KEY`).
    """

    def __init__(
        self,
        stream: ParquetStream,
        clips: VideoClipDataset,
        *,
        seed: int = 0,
        shuffle_buffer_size: int = 1000,
        epoch_repeats: int = 1,
    ) -> None:
        if clips.repeated_samples != 1:
            raise ValueError(
                f"repeated_samples {clips.repeated_samples} with --streaming: it reads 1/K of the videos per "
                "epoch by index; set repeated_samples=1 or drop --streaming"
            )
        if shuffle_buffer_size < 1 or epoch_repeats < 1:
            raise ValueError(
                f"shuffle_buffer_size and epoch_repeats must be >= 1, got {shuffle_buffer_size}, {epoch_repeats}"
            )
        self.stream, self.clips, self.seed = stream, clips, seed
        self.shuffle_buffer_size, self.epoch_repeats = shuffle_buffer_size, epoch_repeats
        self.plan: StreamPlan | None = None

    def make_plan(
        self, rank: int, processes: int, workers: int, batch_items: int, multiple: int
    ) -> StreamPlan:
        """The epoch plan of process `rank`: every slot's rows from the footers; the batches per worker
        rounded down so that a process's batches per epoch are a multiple of `multiple` (accumulation)."""
        slots = processes * workers
        shards = len(self.stream.files)
        if shards < slots:
            raise ValueError(
                f"--streaming: {shards} Parquet shards cannot feed {processes} processes x {workers} workers "
                f"= {slots} readers; re-prepare with at least {slots} shards (hf-vssl prepare --format parquet "
                "--shard-mb smaller) or lower --num-workers"
            )
        smallest = min(sum(self.stream.rows[slot::slots]) for slot in range(slots))
        per_worker = smallest * self.epoch_repeats // batch_items
        step = multiple // math.gcd(multiple, workers)
        per_worker -= per_worker % step
        if per_worker == 0:
            raise ValueError(
                f"--streaming: the smallest of the {slots} readers' shares holds {smallest} videos, fewer than "
                f"one batch of {batch_items} (x {step} accumulation); lower batch_size or --num-workers"
            )
        return StreamPlan(rank, processes, workers, batch_items, per_worker, starts=((0, 0),) * workers)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        plan = self.plan
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if plan is None or workers != plan.workers:
            raise RuntimeError("a StreamingClipDataset is read through the StreamLoader that plans it")
        role = (worker + plan.rotation) % workers
        read, done = plan.starts[role]
        rows = self._rows(plan.slot(role), plan.epoch, skip=read)
        for _ in range((plan.batches_per_worker - done) * plan.batch_items):
            item, read = self._next_item(rows, plan, role)
            yield item | {SLOT_KEY: role, POSITION_KEY: read}

    def _rows(self, slot: int, epoch: int, skip: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """(position, row) of the slot's endless order for `epoch` (pass after pass, each reshuffled), from
        position `skip` on: the rows before it are read from Parquet and dropped, not decoded."""
        slots = self.plan.processes * self.plan.workers
        part = self.stream.dataset.shard(slots, slot, contiguous=False)
        # the buffer filled from one shard at a time: datasets' interleaving of several shards sleeps 5 s
        # whenever it stops (its guard against a PyArrow reader-thread crash), at every pass of every worker
        part = part.shuffle(seed=self.seed, buffer_size=self.shuffle_buffer_size, max_buffer_input_shards=1)
        position = 0
        for repeat in itertools.count():
            part.set_epoch(epoch * self.epoch_repeats + repeat)
            # `iter`, not `iter(part)`: inside a DataLoader worker the latter splits the slot's shards again
            for batch in part.iter(batch_size=1):
                if position >= skip:
                    yield position, {name: values[0] for name, values in batch.items()}
                position += 1
            if position == 0:
                raise ValueError(f"--streaming: slot {slot}'s shards hold no rows")

    def _next_item(
        self, rows: Iterator[tuple[int, dict[str, Any]]], plan: StreamPlan, role: int
    ) -> tuple[dict[str, Any], int]:
        """The next row that decodes, as an item; undecodable rows are skipped and counted (at most
        `clips.max_attempts` in a row). Returns the item and the rows read so far."""
        clips, skipped = self.clips, 0
        while True:  # `_rows` never ends
            position, row = next(rows)
            rng = np.random.default_rng([self.seed, plan.epoch, plan.slot(role), position])
            try:
                views, targets = clips.load_views(
                    row["video"], row.get("video_frames"), row.get(clips.flow_column), rng, f"row {position}"
                )
            except VideoDecodeError as err:
                skipped += 1
                clips.skipped_paths.append(err.path)
                logger.warning("skipping an undecodable video (stream row %d): %s", position, err)
                if skipped >= clips.max_attempts:
                    raise RuntimeError(
                        f"{skipped} streamed videos in a row could not be decoded (last: {err.path}); the "
                        "shards are probably unreadable: check them with hf-vssl prepare"
                    ) from err
                continue
            item = {
                "views": views,
                "targets": {key: torch.tensor(value) for key, value in targets.items()},
                "label": torch.tensor(row.get("label", -1), dtype=torch.int64),
                "index": torch.tensor(position, dtype=torch.int64),
                "num_skipped": torch.tensor(skipped, dtype=torch.int64),
            }
            return item, position + 1


class StreamLoader:
    """The training loader of a `StreamingClipDataset`: one DataLoader per epoch (fresh workers carry the
    epoch's plan), batches moved to `device`, and the position of every worker's slot recorded per batch.

    Not a `torch.utils.data.DataLoader`, so `accelerate.prepare` leaves it as it is: Accelerate would split
    one stream between processes, where here every process reads its own shards. `state_dict` /
    `load_state_dict` make it a checkpointed object (`Accelerator.register_for_checkpointing`): it holds every
    process's record once `gather_state` (a collective, called by every process before a save) ran.
    """

    def __init__(
        self,
        dataset: StreamingClipDataset,
        plan: StreamPlan,
        *,
        device: torch.device,
        num_workers: int,
        prefetch_factor: int,
        worker_init_fn: Callable[[int], None] | None = None,
    ) -> None:
        self.dataset, self.plan, self.device = dataset, plan, device
        self.num_workers, self.prefetch_factor = num_workers, prefetch_factor
        self.worker_init_fn = worker_init_fn
        self.resume_plan: StreamPlan | None = None
        self.gathered: list[dict[str, Any]] = []
        self.set_epoch(0)

    def __len__(self) -> int:
        """Batches per process per epoch."""
        return self.plan.workers * self.plan.batches_per_worker

    def set_epoch(self, epoch: int) -> None:
        """Start `epoch` at its beginning, or where a loaded checkpoint stopped in it."""
        resumed = self.resume_plan is not None and self.resume_plan.epoch == epoch
        self.epoch_plan = self.resume_plan if resumed else replace(self.plan, epoch=epoch)
        self.positions = list(self.epoch_plan.starts)
        self.resume_plan = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.dataset.plan = self.epoch_plan
        workers = self.num_workers
        loader = DataLoader(
            self.dataset,
            batch_size=self.plan.batch_items,
            num_workers=workers,
            prefetch_factor=self.prefetch_factor if workers else None,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=self.worker_init_fn,
            # a private generator: creating the iterator must not consume the global RNG
            generator=torch.Generator().manual_seed(self.dataset.seed),
        )
        for batch in loader:
            role, read = int(batch.pop(SLOT_KEY)[-1]), int(batch.pop(POSITION_KEY)[-1])
            self.positions[role] = (read, self.positions[role][1] + 1)
            yield _to_device(batch, self.device)

    def gather_state(self) -> None:
        """Every process's positions, for the main process to save (all processes call it, before a save)."""
        from accelerate.utils import gather_object

        local = {"rank": self.plan.rank, "epoch": self.epoch_plan.epoch, "positions": self.positions}
        self.gathered = gather_object([local]) if self.plan.processes > 1 else [local]

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint holds: the reading setup, and each process's epoch and slot positions."""
        plan = self.plan
        setup = {"processes": plan.processes, "workers": plan.workers, "batch_items": plan.batch_items}
        return setup | {"ranks": self.gathered}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where the checkpoint stopped: this process's positions, the workers rotated to go on
        with the one the round-robin would have asked next."""
        plan = self.plan
        saved = (state["processes"], state["workers"], state["batch_items"])
        if saved != (plan.processes, plan.workers, plan.batch_items):
            raise ValueError(
                f"--resume: the checkpoint streamed with {saved[0]} processes x {saved[1]} workers, batch "
                f"{saved[2]}; resume with the same (--num-workers {saved[1]}) to see the same samples"
            )
        mine = state["ranks"][plan.rank]
        starts = tuple((int(read), int(done)) for read, done in mine["positions"])
        done = sum(d for _r, d in starts)
        self.resume_plan = replace(plan, epoch=mine["epoch"], starts=starts, rotation=done % plan.workers)

    def check_resume(self, epoch: int, batches_in_epoch: int) -> None:
        """The stream's record agrees with the trainer state's (a checkpoint of another loader does not).
        A complete epoch e and the start of epoch e + 1 are one position (the last save of a run is after
        the epoch's end)."""
        resumed = self.resume_plan
        if resumed is None:
            raise ValueError(
                "--resume: the checkpoint holds no stream position; resume it without --streaming"
            )
        stream = self._normal(resumed.epoch, sum(done for _read, done in resumed.starts))
        if stream != self._normal(epoch, batches_in_epoch):
            raise ValueError(
                f"--resume: the checkpoint's stream position (epoch, batches) {stream} does not match its "
                f"trainer state {(epoch, batches_in_epoch)}; resume from a checkpoint of this streaming run"
            )

    def _normal(self, epoch: int, batches: int) -> tuple[int, int]:
        return (epoch + 1, 0) if batches == len(self) else (epoch, batches)


def _to_device(batch: Any, device: torch.device) -> Any:
    from accelerate.utils import send_to_device

    return send_to_device(batch, device, non_blocking=device.type == "cuda")
