"""Pretraining with any registered method; the arguments of `hf-vssl pretrain` (see --help).

    accelerate launch --num_processes 2 examples/pretrain.py --config examples/configs/pace_r21d_ucf101.yaml \\
        --dataset data/UCF-101 --output-dir runs/pace
"""

import sys

from hf_vssl.cli.pretrain import main

if __name__ == "__main__":
    sys.exit(main())
