"""`hf-vssl prepare SRC OUT`: re-encode a video dataset once for fast training decodes (same splits and labels)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..data.prepare import DEFAULT_GOP_SIZE, DEFAULT_SHARD_MB, DEFAULT_SHORT_SIDE, OUTPUT_FORMATS
    from ..data.sources import DATASET_FORMATS

    parser = subparsers.add_parser(
        "prepare",
        help="re-encode a dataset for training speed (short side 128, short GOP, fast-decoding codec)",
        description="Re-encode every video under SRC into OUT with the same relative paths (as .mp4) and copy "
        "the split and annotation files, so the loaders open OUT like SRC. Resumable: finished videos are "
        "skipped; undecodable sources are skipped and listed. Train on it with frame_size None (or the "
        "prepared size) so no frame is resized again.",
    )
    parser.add_argument("source", help="the dataset folder (any layout the loaders read)")
    parser.add_argument("output", help="the prepared dataset folder (created)")
    parser.add_argument(
        "--short-side", type=int, default=DEFAULT_SHORT_SIDE, help="short side in pixels (even); width even"
    )
    parser.add_argument(
        "--gop-size",
        type=int,
        default=DEFAULT_GOP_SIZE,
        help="frames between key frames (at most 16 advised)",
    )
    parser.add_argument("--num-workers", type=int, default=1, help="parallel processes (one video each)")
    parser.add_argument(
        "--format",
        dest="output_format",
        default="folder",
        choices=OUTPUT_FORMATS,
        help="parquet: also write OUT/data/<split>-*.parquet shards of video bytes (videos in OUT/videos)",
    )
    parser.add_argument(
        "--dataset-format",
        default="auto",
        choices=DATASET_FORMATS,
        help="layout of SRC (for --format parquet)",
    )
    parser.add_argument("--split", type=int, default=1, help="official split of UCF-101/HMDB-51 (parquet)")
    parser.add_argument("--shard-mb", type=int, default=DEFAULT_SHARD_MB, help="Parquet shard size in MB")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.prepare import prepare_dataset

    report = prepare_dataset(
        args.source,
        args.output,
        short_side=args.short_side,
        gop_size=args.gop_size,
        num_workers=args.num_workers,
        output_format=args.output_format,
        dataset_format=args.dataset_format,
        split=args.split,
        shard_mb=args.shard_mb,
    )
    print(report.summary())
    return 0
