"""Cluster metrics and a t-SNE plot of a checkpoint; the arguments of `hf-vssl cluster` (see --help).

accelerate launch examples/cluster.py --model runs/vicc/model --dataset data/UCF-101 --output-dir runs/vicc/clu
"""

import sys

from hf_vssl.cli.cluster import main

if __name__ == "__main__":
    sys.exit(main())
