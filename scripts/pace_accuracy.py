"""Pace prediction accuracy of a pretrained Pace checkpoint on a dataset split (Pace Prediction supp. Table 1,
"rea. acc.").

    python scripts/pace_accuracy.py --model runs/pace/model --dataset data/UCF-101 [--split test] [--seed 0]

Prints one line: the accuracy, the number of videos, the pace set and the seed (see
`hf_vssl.methods.pace.pace_accuracy` for the protocol).
"""

from __future__ import annotations

import argparse

import torch

from hf_vssl.data.sources import DATASET_FORMATS, load_video_dataset
from hf_vssl.methods.pace import PaceForPretraining, pace_accuracy


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="a Pace pretraining checkpoint folder (or Hub id)")
    parser.add_argument("--dataset", required=True, help="the dataset folder")
    parser.add_argument("--dataset-format", default="auto", choices=DATASET_FORMATS)
    parser.add_argument("--split", default="test", help="the split to score (default: test)")
    parser.add_argument("--official-split", type=int, default=1, help="UCF-101 / HMDB-51 split 1, 2 or 3")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pace sampler")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args(argv)
    splits = load_video_dataset(args.dataset, args.dataset_format, args.official_split)
    if args.split not in splits:
        parser.error(f"--split {args.split}: the dataset has splits {sorted(splits)}")
    model = PaceForPretraining.from_pretrained(args.model)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    split = splits[args.split]
    accuracy = pace_accuracy(
        model, split, seed=args.seed, batch_size=args.batch_size, num_workers=args.num_workers
    )
    paces = [str(p) for p in model.config.pace_fractions]
    print(
        f"pace accuracy {100 * accuracy:.1f}% on {len(split)} {args.split} videos "
        f"(paces [{', '.join(paces)}], backward {model.config.backward_mode}, seed {args.seed})"
    )
    return accuracy


if __name__ == "__main__":
    main()
