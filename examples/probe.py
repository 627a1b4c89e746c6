"""Linear probe of a checkpoint (or a random init); the arguments of `hf-vssl probe` (see --help).

accelerate launch examples/probe.py --model runs/pace/model --dataset data/UCF-101 --output-dir runs/pace/probe
"""

import sys

from hf_vssl.cli.probe import main

if __name__ == "__main__":
    sys.exit(main())
