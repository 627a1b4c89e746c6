"""`hf-vssl` with the tests' tiny method registered: the command line as a user runs it, for the
tests that need a process of its own (signals, exit codes, stderr)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "training"))

import tiny_method

from hf_vssl.cli.main import main

if __name__ == "__main__":
    tiny_method.register()
    sys.exit(main())
