"""`hf_vssl.data.streaming`: Parquet shards read as a `datasets` stream, split over processes x workers, an
epoch's length from the footers, undecodable rows skipped and counted, and a resumed loader that yields
exactly the rest of the uninterrupted epoch."""

from __future__ import annotations

import sys
from pathlib import Path

import datasets
import pytest
import torch
from datasets.distributed import split_dataset_by_node
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).parent))  # parquet_shards.py, also read by tests/training

from parquet_shards import write_shards

from hf_vssl.data.clip_dataset import VideoClipDataset
from hf_vssl.data.samplers import TwoClipSampler
from hf_vssl.data.streaming import StreamingClipDataset, StreamLoader, open_stream
from hf_vssl.training.loop import TrainingArguments


@pytest.fixture(scope="module")
def four_shards(tiny_ucf_root, tmp_path_factory) -> Path:
    """24 train videos in 4 shards of 6, plus one undecodable row in shard 2."""
    return write_shards(tiny_ucf_root, tmp_path_factory.mktemp("stream"), 4, broken_in=2)


def _dataset(root: Path, buffer: int = 4, epoch_repeats: int = 1) -> StreamingClipDataset:
    stream = open_stream(root)
    clips = VideoClipDataset(stream.template(), TwoClipSampler(num_frames=2), frame_size=(16, 20))
    return StreamingClipDataset(
        stream, clips, seed=3, shuffle_buffer_size=buffer, epoch_repeats=epoch_repeats
    )


def _loader(dataset, rank=0, processes=1, workers=0, batch=2) -> StreamLoader:
    plan = dataset.make_plan(rank, processes, max(1, workers), batch, multiple=1)
    return StreamLoader(dataset, plan, device=torch.device("cpu"), num_workers=workers, prefetch_factor=2)


def _rows(batches) -> list[tuple[int, int]]:
    return [(int(i), int(label)) for batch in batches for i, label in zip(batch["index"], batch["label"])]


def test_open_stream_counts_rows_from_the_footers_and_names_the_fix_without_shards(four_shards, tmp_path):
    stream = open_stream(four_shards)
    assert stream.rows == (6, 6, 7, 6) and stream.dataset.n_shards == 4
    assert isinstance(stream.dataset, datasets.IterableDataset)
    assert stream.dataset.features["video"] == datasets.Video(decode=False)
    with pytest.raises(FileNotFoundError, match="hf-vssl prepare --format parquet"):
        open_stream(tmp_path)
    with pytest.raises(ValueError, match="--dataset-format ucf101 is not"):
        open_stream(four_shards, dataset_format="ucf101")


def test_the_hub_route_streams_the_same_shards(four_shards):
    # what a Hub id takes: load_dataset_builder's data files, load_dataset(streaming=True), footers read
    # through fsspec; a local folder stands in for the Hub (no network in tests)
    hub, local = open_stream(four_shards, dataset_format="hub"), open_stream(four_shards)
    assert [Path(f).name for f in hub.files] == [Path(f).name for f in local.files]
    assert hub.rows == local.rows
    assert hub.dataset.features == local.dataset.features


def test_an_epoch_length_comes_from_the_smallest_readers_rows(four_shards):
    dataset = _dataset(four_shards)
    # 2 processes x 2 workers: one shard each, the smallest 6 rows -> 3 batches of 2 per worker; rank 1's
    # workers read shards 1 and 3, as split_dataset_by_node(rank 1 of 2) and then 2 DataLoader workers would
    plan = dataset.make_plan(1, 2, 2, 2, multiple=1)
    assert (plan.batches_per_worker, plan.slot(0), plan.slot(1)) == (3, 1, 3)
    stream = open_stream(four_shards).dataset
    node = split_dataset_by_node(stream, rank=1, world_size=2)
    # datasets' own worker split: 2 workers of 6 rows each, interleaved one row at a time
    paths = [row["video"]["path"] for row in DataLoader(node, batch_size=None, num_workers=2)]
    mine = [
        [row["video"]["path"] for row in stream.shard(4, plan.slot(role), contiguous=False)]
        for role in (0, 1)
    ]
    assert [paths[0::2], paths[1::2]] == mine
    # 1 process x 2 workers: shards 0+2 (13 rows) and 1+3 (12): 6 batches each, 12 a multiple of 4 accumulation
    # steps; with 5, 5 each (10 per epoch: 2 optimizer steps)
    assert dataset.make_plan(0, 1, 2, 2, multiple=4).batches_per_worker == 6
    assert dataset.make_plan(0, 1, 2, 2, multiple=5).batches_per_worker == 5


def test_fewer_shards_than_processes_x_workers_fails_naming_the_fix(four_shards):
    with pytest.raises(
        ValueError, match=r"4 Parquet shards cannot feed 2 processes x 3 workers = 6.*--num-workers"
    ):
        _dataset(four_shards).make_plan(0, 2, 3, 2, multiple=1)


def test_processes_read_their_shards_reshuffled_every_epoch(four_shards):
    orders = []
    for epoch in (0, 1):
        for rank in (0, 1):  # rank 0: shards 0 + 2 (13 rows), rank 1: shards 1 + 3 (12)
            loader = _loader(_dataset(four_shards), rank=rank, processes=2)
            loader.set_epoch(epoch)
            batches = list(loader)
            assert len(batches) == len(loader) == 6  # the smaller share's 12 rows, in batches of 2
            if rank == 1:
                orders.append(_rows(batches))
                assert sum(int(batch["num_skipped"].sum()) for batch in batches) == 0
    # rank 1 reads all its 12 rows in both epochs, in two orders
    assert [i for i, _ in sorted(orders[0])] == [i for i, _ in sorted(orders[1])] == list(range(12))
    assert sorted(label for _, label in orders[0]) == sorted(label for _, label in orders[1])
    assert orders[0] != orders[1]


def test_an_undecodable_row_is_skipped_and_counted(four_shards):
    # 4 processes: rank 2 reads shard 2 alone, its broken row first (buffer 1: the file's order)
    loader = _loader(_dataset(four_shards, buffer=1), rank=2, processes=4, batch=1)
    batches = list(loader)
    assert len(batches) == 6  # the smallest share's 6 rows, one a batch
    assert [int(batch["num_skipped"].sum()) for batch in batches] == [1, 0, 0, 0, 0, 0]
    assert loader.positions[0] == (7, 6)  # 7 rows read for 6 batches: the broken one counted


def test_epoch_repeats_read_every_row_again_with_other_clips(four_shards):
    loader = _loader(_dataset(four_shards, epoch_repeats=2), rank=1, processes=4)  # shard 1: 6 rows
    batches = list(loader)
    assert len(batches) == 6  # 2 passes over 6 rows, batches of 2
    items = [
        (label, batch["views"]["clip0"][i]) for batch in batches for i, label in enumerate(batch["label"])
    ]
    first, second = items[:6], items[6:]
    assert sorted(int(label) for label, _ in first) == sorted(int(label) for label, _ in second)
    # each pass draws its own clips: with one random state per row, all 6 would come again
    assert sum(torch.equal(a, b) for (_, a) in first for (_, b) in second) < 6


@pytest.mark.parametrize("workers", [0, 2])
def test_a_resumed_loader_yields_exactly_the_rest_of_the_epoch(four_shards, workers):
    straight = _loader(_dataset(four_shards), workers=workers)
    straight.set_epoch(1)
    expected = list(straight)
    skips = [int(b["num_skipped"].sum()) for b in expected]
    assert len(expected) == 12 and sum(skips) == 1
    # stop after the broken row, on an odd batch (the workers' round-robin must rotate)
    stop = skips.index(1) + 1
    stop += 1 - stop % 2

    first = _loader(_dataset(four_shards), workers=workers)
    first.set_epoch(1)
    consumed = []
    for batch in first:
        consumed.append(batch)
        if len(consumed) == stop:
            break
    first.gather_state()
    state = first.state_dict()

    resumed = _loader(_dataset(four_shards), workers=workers)
    resumed.load_state_dict(state)
    resumed.check_resume(1, stop)
    resumed.set_epoch(1)
    rest = list(resumed)
    assert len(rest) == 12 - stop and sum(int(b["num_skipped"].sum()) for b in rest) == 0  # nothing re-read
    for want, got in zip(expected, consumed + rest, strict=True):
        assert torch.equal(want["index"], got["index"]) and torch.equal(want["label"], got["label"])
        for name in want["views"]:
            assert torch.equal(want["views"][name], got["views"][name])


def test_resume_refuses_another_worker_count_and_a_foreign_position(four_shards):
    loader = _loader(_dataset(four_shards), workers=0)
    loader.gather_state()
    state = loader.state_dict()
    with pytest.raises(ValueError, match="--num-workers 1"):
        _loader(_dataset(four_shards), workers=2).load_state_dict(state)
    loader.load_state_dict(state)
    with pytest.raises(ValueError, match="does not match its trainer state"):
        loader.check_resume(0, 3)


def test_options_that_need_random_access_are_refused(four_shards, tmp_path):
    with pytest.raises(ValueError, match="--monitor-every"):
        TrainingArguments(output_dir=tmp_path, streaming=True, monitor_every=1)
    stream = open_stream(four_shards)
    clips = VideoClipDataset(stream.template(), TwoClipSampler(num_frames=2), repeated_samples=2)
    with pytest.raises(ValueError, match="repeated_samples 2 with --streaming"):
        StreamingClipDataset(stream, clips)
