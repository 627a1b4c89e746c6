"""`hf-vssl convert --from <release> CHECKPOINT OUTPUT_DIR`: an original release's weights -> hf_vssl."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..hub.convert import SOURCES

    parser = subparsers.add_parser(
        "convert",
        help="convert an original release's checkpoint file into an hf_vssl checkpoint folder",
        description="Releases: " + "; ".join(f"{name}: {s.description}" for name, s in SOURCES.items()),
    )
    parser.add_argument("--from", dest="source", required=True, choices=sorted(SOURCES), help="the release")
    parser.add_argument(
        "checkpoint", help="the release's .pth / .pth.tar / .pt file (read with weights_only=True)"
    )
    parser.add_argument("output_dir", help="folder for config.json, model.safetensors and the remote code")
    parser.add_argument(
        "--arch", default=None, help="the backbone, when the file's keys do not tell (e.g. r21d, c3d, r3d)"
    )
    parser.add_argument(
        "--stream",
        choices=("rgb", "flow"),
        default=None,
        help="ViCC: the stream the checkpoint trained (default rgb)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..hub.convert import convert_checkpoint, get_source

    options = {"stream": args.stream} if args.stream else {}
    report = convert_checkpoint(
        get_source(args.source), args.checkpoint, args.output_dir, architecture=args.arch, **options
    )
    print(
        f"converted {report.converted_tensors} tensors of {report.source_file} ({report.source} {report.architecture})"
    )
    kept = f" + {report.method} pretraining heads" if report.method else ""
    print(f"  -> {args.output_dir} ({report.model_type}{kept})")
    for reason, count in report.dropped.items():
        print(f"  dropped {count}: {reason}")
    print(f"  the original network was trained on {report.original_input}")
    return 0
