"""`hf-vssl synth`: write the synthetic action dataset (UCF-101 layout, motion classes, optionally appearance too)."""

from __future__ import annotations

import argparse
import time


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..data.synthetic import PRESETS

    parser = subparsers.add_parser(
        "synth",
        help="write the synthetic action dataset (no download; UCF-101 layout)",
        description="Write real mp4 videos whose classes differ only in motion, in UCF-101's folder and "
        "split-file layout, deterministically from --seed. Load them with the ucf101 loader. The two-label-* "
        "presets also give each video an appearance family crossed with its motion class (column "
        "appearance_label; label stays the motion class).",
    )
    parser.add_argument(
        "--preset",
        default="tiny",
        choices=sorted(PRESETS),
        help="tiny: tests; small: the demo; two-label-tiny / -small / -large: motion x appearance for "
        "tests / a CPU / a GPU",
    )
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of every video")
    parser.add_argument("--workers", type=int, default=1, help="rendering processes")
    parser.add_argument("--overwrite", action="store_true", help="rebuild even if the folder holds a build")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.synthetic import PRESETS, make_synthetic_ucf

    start = time.perf_counter()
    root = make_synthetic_ucf(
        args.out, args.preset, args.seed, num_workers=args.workers, overwrite=args.overwrite
    )
    preset = PRESETS[args.preset]
    count = len(preset.classes) * preset.groups * preset.clips_per_group
    families = f" x {len(preset.appearances)} appearance families" if preset.appearances else ""
    print(
        f"synthetic '{args.preset}' (seed {args.seed}): {len(preset.classes)} classes{families}, "
        f"{count} videos in {root} ({time.perf_counter() - start:.1f} s)"
    )
    return 0
