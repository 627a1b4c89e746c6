"""`hf-vssl extract-flow ROOT`: optical-flow videos for ViCC's flow stream, next to the RGB videos."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extract-flow",
        help="compute optical flow videos (<stem>.flow.mp4) for every video under a folder",
        description="Compute TV-L1 (or Farneback) optical flow of every video under ROOT and store it in "
        "ViCC's encoding (clipped to +-20 px, uint8 (f + 20) * 255 / 40, channels (128, v, u)) as "
        "<stem>.flow.mp4 beside each video. Resumable: finished videos are skipped. Needs OpenCV: "
        "pip install 'hf-vssl[flow]'.",
    )
    parser.add_argument("root", help="dataset folder, searched recursively for videos")
    parser.add_argument("--method", default="tvl1", choices=("tvl1", "farneback"), help="farneback is faster")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (one video each)")
    parser.add_argument(
        "--short-side", type=int, default=None, help="resize frames first (default: native size)"
    )
    parser.add_argument("--overwrite", action="store_true", help="recompute existing flow videos")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.flow import extract_flow_videos
    from ..data.loaders import VIDEO_EXTENSIONS, rgb_videos

    root = Path(args.root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    videos = rgb_videos(root)
    if not videos:
        raise FileNotFoundError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) under {root}")
    try:
        report = extract_flow_videos(
            videos,
            method=args.method,
            short_side=args.short_side,
            overwrite=args.overwrite,
            num_workers=args.workers,
            progress=True,
        )
    except ImportError as err:
        raise ValueError(str(err)) from err
    print(
        f"flow ({args.method}) under {root}: {len(report.written)} written, {len(report.existing)} already there, "
        f"{len(report.failed)} failed"
    )
    for video, error in report.failed.items():
        print(f"  failed: {video}: {error}")
    return 1 if report.failed else 0
