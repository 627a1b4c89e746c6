"""`hf-vssl fuse RGB_DIR FLOW_DIR`: two-stream late fusion of two finished evaluations."""

from __future__ import annotations

import argparse
import sys

from .common import command_main, finish_parser, require

DESCRIPTION = """Late fusion of an RGB and a flow evaluation (ViCC supp.'s "R+F" rows), as ViCC's released
eval/merge_2stream_prob.py: for two probe or finetune output folders, the per-video probabilities (each
stream's softmax averaged over the video's clips) are averaged with equal weights and scored top-1 /
top-5; for two retrieve output folders, the cosine similarities of the two streams (each centred and
normalised) are summed and scored R@k. Both runs must have evaluated the same dataset and split.
Writes OUTPUT_DIR/fusion.json and fusion.md with each stream alone and fused."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fuse", help="two-stream late fusion of two evaluations (ViCC's R+F rows)", description=DESCRIPTION
    )
    parser.add_argument("first", metavar="RGB_DIR", help="output folder of probe / finetune / retrieve")
    parser.add_argument(
        "second", metavar="FLOW_DIR", help="output folder of the same command on the other stream"
    )
    parser.add_argument("--output-dir", metavar="DIR", help="where fusion.json and fusion.md go")
    parser.add_argument(
        "--ks", type=int, nargs="+", help="top-k or R@k cut-offs (default: 1 5, or 1 5 10 20 50)"
    )
    finish_parser(parser, run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.fusion import fuse_folders
    from ..evaluation.report import markdown_table, write_report

    require(args, "output_dir")
    rows = fuse_folders(args.first, args.second, ks=args.ks)
    json_path, md_path = write_report(rows, args.output_dir, "fusion", inputs=[args.first, args.second])
    print(markdown_table(rows))
    print(f"results: {json_path} and {md_path}")
    return 0


main = command_main("fuse")  # `python -m hf_vssl.cli.fuse`


if __name__ == "__main__":
    sys.exit(main())
