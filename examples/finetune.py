"""Finetuning of a checkpoint with a new head; the arguments of `hf-vssl finetune` (see --help).

accelerate launch examples/finetune.py --model runs/pace/model --dataset data/UCF-101 --output-dir runs/pace/ft
"""

import sys

from hf_vssl.cli.finetune import main

if __name__ == "__main__":
    sys.exit(main())
