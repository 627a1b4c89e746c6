"""`hf-vssl retrieve`: nearest-neighbour video retrieval, test queries against the training videos."""

from __future__ import annotations

import argparse
import sys

from .common import (
    add_evaluation_arguments,
    add_run_arguments,
    command_main,
    evaluation_from_args,
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
    add_evaluation_arguments(parser)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10, 20, 50], help="recall cut-offs")
    add_run_arguments(parser, training=False)
    finish_parser(parser, run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.retrieval import evaluate_retrieval

    evaluation = evaluation_from_args(args)
    recall = evaluate_retrieval(evaluation.features("train"), evaluation.features("test"), ks=args.ks)
    publish(args, evaluation, "Retrieval", {evaluation.name: recall}, "retrieval")
    return 0


main = command_main("retrieve")  # `python -m hf_vssl.cli.retrieve`, examples/retrieve.py


if __name__ == "__main__":
    sys.exit(main())
