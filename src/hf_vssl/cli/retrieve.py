"""`hf-vssl retrieve`: nearest-neighbour video retrieval, test queries against the training videos."""

from __future__ import annotations

import argparse
import sys

from .common import (
    add_backbone_arguments,
    add_card_argument,
    add_dataset_arguments,
    add_protocol_arguments,
    add_run_arguments,
    build_evaluation,
    command_main,
    finish_parser,
    publish,
)

DESCRIPTION = """Video retrieval without training: each video's pooled clip features are averaged, each set is
mean-centred and L2-normalised, every test video queries the training videos by cosine similarity,
and R@k is the fraction of queries with a same-class video among the k nearest."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retrieve", help="nearest-neighbour retrieval R@k", description=DESCRIPTION
    )
    add_backbone_arguments(parser, model=True)
    add_dataset_arguments(parser)
    add_protocol_arguments(parser)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10, 20, 50], help="recall cut-offs")
    add_run_arguments(parser)
    add_card_argument(parser)
    finish_parser(parser, run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.retrieval import evaluate_retrieval

    evaluation = build_evaluation(args)
    recall = evaluate_retrieval(evaluation.features("train"), evaluation.features("test"), ks=args.ks)
    publish(args, evaluation, "Retrieval", {evaluation.name: recall}, "retrieval")
    return 0


main = command_main("retrieve")  # `python -m hf_vssl.cli.retrieve`, examples/retrieve.py


if __name__ == "__main__":
    sys.exit(main())
