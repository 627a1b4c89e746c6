"""Parquet shards of the tiny set for the streaming tests (tests/data and tests/training import it)."""

from __future__ import annotations

from pathlib import Path

import datasets

from hf_vssl.data.prepare import write_parquet

BROKEN = {"bytes": b"this is no video", "path": "Broken/v_broken.mp4"}


def write_shards(source: Path, out: Path, num_shards: int, broken_in: int | None = None) -> Path:
    """The train split of `source` as `num_shards` Parquet shards in `out/data` (the layout `hf-vssl prepare
    --format parquet` writes), with an undecodable row first in shard `broken_in`."""
    write_parquet(source, out / "whole", shard_mb=1000)
    rows = datasets.load_dataset("parquet", data_files=str(out / "whole" / "train-*.parquet"), split="train")
    for index in range(num_shards):
        shard = rows.shard(num_shards, index, contiguous=True)
        if index == broken_in:
            row = shard[0] | {"video": BROKEN}
            broken = datasets.Dataset.from_list([row], features=rows.features)
            shard = datasets.concatenate_datasets([broken, shard])
        shard.to_parquet(str(out / "data" / f"train-{index:05d}-of-{num_shards:05d}.parquet"))
    return out
