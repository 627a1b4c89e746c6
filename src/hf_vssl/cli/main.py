"""Entry point of `hf-vssl`. Each subcommand lives in its own module of this package."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from huggingface_hub.errors import StrictDataclassError

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
    ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, KeyError, StrictDataclassError
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-vssl",
        description="Self-supervised video representation learning on the Hugging Face stack.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (anywhere on the line)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"hf_vssl.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; an error is one line on stderr (exit 2 for a bad input, 1 otherwise) and its
    traceback only with --debug."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    args = parser.parse_args([a for a in argv if a != "--debug"])
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
