"""Entry point of `hf-vssl`. Each subcommand lives in its own module of this package, imported when it runs."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from huggingface_hub.errors import StrictDataclassError

from .. import __version__
from ..typed_fields import FieldTypeError

# command -> (its module in this package, which has `add_parser(subparsers)`; the line `--help` lists).
# `hf-vssl --help` lists them from here without importing any module: the modules import torch,
# transformers and datasets (seconds). Only the module of the command that runs is imported.
COMMANDS: dict[str, tuple[str, str]] = {
    "env": ("env", "print versions and available devices"),
    "zoo": ("zoo", "list the model zoo presets, or write their model cards"),
    "push": (
        "push",
        "upload a checkpoint folder to the Hub (safetensors, config, remote code, processor, card)",
    ),
    "convert": ("convert", "convert an original release's checkpoint file into an hf_vssl checkpoint folder"),
    "pretrain": ("pretrain", "self-supervised pretraining (one Accelerate loop for every method)"),
    "probe": ("probe", "linear probe on frozen features"),
    "finetune": ("finetune", "finetune with a new head"),
    "retrieve": ("retrieve", "nearest-neighbour retrieval R@k"),
    "cluster": ("cluster", "cluster metrics and a t-SNE plot"),
    "demo": ("demo", "end-to-end demo on synthetic data (CPU, minutes)"),
    "synth": ("synth", "write the synthetic action dataset (no download; UCF-101 layout)"),
    "fuse": ("fuse", "two-stream late fusion of two evaluations (ViCC's R+F rows)"),
    "extract-flow": (
        "extract_flow",
        "compute optical flow videos (<stem>.flow.mp4) for every video under a folder",
    ),
    "extract-features": ("extract_features", "dense per-video (T, C) clip features for temporal models"),
    "prepare": (
        "prepare",
        "re-encode a dataset for training speed (short side 128, short GOP, fast-decoding codec)",
    ),
}

# errors that mean "the user asked for something that cannot work": one line, exit code 2
# (a config field that fails validation raises huggingface_hub's StrictDataclassError, not a ValueError)
USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    KeyError,
    StrictDataclassError,
    FieldTypeError,
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of `command` (its module imported), or, for any other word, the command list alone."""
    parser = argparse.ArgumentParser(
        prog="hf-vssl",
        description="Self-supervised video representation learning on the Hugging Face stack.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (anywhere on the line)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if command in COMMANDS:
        importlib.import_module(f"hf_vssl.cli.{COMMANDS[command][0]}").add_parser(subparsers)
    else:
        for name, (_, summary) in COMMANDS.items():
            subparsers.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    command = next((arg for arg in argv if not arg.startswith("-")), None)  # the only options come before it
    args = build_parser(command).parse_args(argv)
    importlib.import_module("hf_vssl.models")  # the Auto classes know our model types (hf_vssl/__init__.py)
    try:
        result = args.func(args)
    except Exception as err:
        if debug:
            raise
        hint = "" if isinstance(err, USER_ERRORS) else " (--debug shows the traceback)"
        print(f"hf-vssl {args.command}: error: {one_line_message(err)}{hint}", file=sys.stderr)
        return 2 if isinstance(err, USER_ERRORS) else 1
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"hf-vssl {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def one_line_message(err: BaseException) -> str:
    """What went wrong, on one line: a config validator's own message, not its wrapper's."""
    if isinstance(err, StrictDataclassError) and isinstance(err.__cause__, (ValueError, TypeError)):
        err = err.__cause__
    message = err.args[0] if isinstance(err, KeyError) and err.args else err
    return " ".join(str(message).split())


if __name__ == "__main__":
    sys.exit(main())
