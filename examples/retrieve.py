"""Video retrieval R@k of a checkpoint; the arguments of `hf-vssl retrieve` (see --help).

accelerate launch examples/retrieve.py --model runs/pace/model --dataset data/UCF-101 --output-dir runs/pace/ret
"""

import sys

from hf_vssl.cli.retrieve import main

if __name__ == "__main__":
    sys.exit(main())
