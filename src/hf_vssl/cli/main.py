"""`hf-vssl COMMAND ...`: parse the command's options and run it; one line per error.

The console script enters at `hf_vssl_cli.main` (beside the package), which answers `--help` and
`--version` from its command list without importing hf_vssl and comes here to run a command.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from huggingface_hub.errors import StrictDataclassError

from hf_vssl_cli import build_parser, command_name

from ..typed_fields import FieldTypeError

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command (`--debug` anywhere on the line: the traceback instead of the one-line error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    args = build_parser(command_name(argv)).parse_args(argv)
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
