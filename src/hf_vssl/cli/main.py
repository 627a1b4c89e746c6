"""`hf_vssl.cli.main.main(argv)` and `python -m hf_vssl.cli.main ...` (what `accelerate launch -m` takes):
the `hf-vssl` command. Its code is `hf_vssl_cli`, beside the package, so that `hf-vssl --help` imports
neither hf_vssl nor torch; this module only names it inside the package.
"""

from __future__ import annotations

import sys

from hf_vssl_cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
