"""Entry point of `hf-vssl`. Each subcommand lives in its own module of this package."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from huggingface_hub.errors import StrictDataclassError

from ..typed_fields import FieldTypeError

# subcommand module names, in the order `--help` lists them; each has `add_parser(subparsers)`
COMMAND_MODULES: tuple[str, ...] = (
    "env",
    "zoo",
    "push",
    "convert",
    "pretrain",
    "probe",
    "finetune",
    "retrieve",
    "cluster",
    "demo",
    "synth",
    "extract_flow",
)

# errors that mean "the user asked for something that cannot work": one line, exit code 2
# (a config field that fails validation raises huggingface_hub's StrictDataclassError, not a ValueError)
USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    KeyError,
    StrictDataclassError,
    FieldTypeError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-vssl",
        description="Self-supervised video representation learning on the Hugging Face stack.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"hf_vssl.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except USER_ERRORS as err:
        print(f"hf-vssl {args.command}: error: {one_line_message(err)}", file=sys.stderr)
        return 2
    return int(result or 0)


def one_line_message(err: BaseException) -> str:
    """What went wrong, on one line: a config validator's own message, not its wrapper's."""
    if isinstance(err, StrictDataclassError) and isinstance(err.__cause__, (ValueError, TypeError)):
        err = err.__cause__
    message = err.args[0] if isinstance(err, KeyError) and err.args else err
    return " ".join(str(message).split())


if __name__ == "__main__":
    sys.exit(main())
