"""The `hf-vssl` command: its command list, `--help` and `--version`, with no import of hf_vssl.

It sits beside the package, not in it: importing any `hf_vssl.*` module runs `hf_vssl/__init__.py`,
which registers the models and pipelines with transformers (torch and transformers load: seconds).
A command imports its own module, `hf_vssl.cli.<module>`, which adds its parser and its run.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

# command -> (its module in hf_vssl.cli, which has `add_parser(subparsers)`; the line `--help` lists)
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


def package_version() -> str:
    """`hf_vssl.__version__`, read from the package's source as pyproject's `attr:` version is (static)."""
    source = Path(importlib.util.find_spec("hf_vssl").origin).read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "__version__" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise RuntimeError("hf_vssl/__init__.py assigns no __version__")


def command_name(argv: Sequence[str]) -> str | None:
    """The command word of `argv`: the first that is not an option (the top-level options take no value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of `command` (its module imported), or, for any other word, the command list alone."""
    parser = argparse.ArgumentParser(
        prog="hf-vssl",
        description="Self-supervised video representation learning on the Hugging Face stack.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
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
    """Run one command (`--debug` anywhere on the line: the traceback instead of the one-line error).
    Without a known command argparse answers from the list above (help, version or the error naming
    the commands) and exits, having imported nothing of hf_vssl."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    args = build_parser(command_name(argv)).parse_args(argv)
    try:
        result = args.func(args)
    except Exception as err:
        if debug:
            raise
        user_error = isinstance(err, user_errors())
        hint = "" if user_error else " (--debug shows the traceback)"
        print(f"hf-vssl {args.command}: error: {one_line_message(err)}{hint}", file=sys.stderr)
        return 2 if user_error else 1
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"hf-vssl {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def user_errors() -> tuple[type[Exception], ...]:
    """Errors that mean "the user asked for something that cannot work": one line, exit code 2 (a config
    field that fails validation raises huggingface_hub's StrictDataclassError, not a ValueError). Read once
    a command has run, when hf_vssl is imported anyway."""
    from huggingface_hub.errors import StrictDataclassError

    from hf_vssl.typed_fields import FieldTypeError

    return (
        ValueError,
        FileNotFoundError,
        FileExistsError,
        NotADirectoryError,
        KeyError,
        StrictDataclassError,
        FieldTypeError,
    )


def one_line_message(err: BaseException) -> str:
    """What went wrong, on one line: a config validator's own message, not its wrapper's."""
    from huggingface_hub.errors import StrictDataclassError

    if isinstance(err, StrictDataclassError) and isinstance(err.__cause__, (ValueError, TypeError)):
        err = err.__cause__
    message = err.args[0] if isinstance(err, KeyError) and err.args else err
    return " ".join(str(message).split())


if __name__ == "__main__":
    sys.exit(main())
