"""`hf-vssl probe`: linear probe of a frozen backbone (features cached once, 10-clip test)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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

DESCRIPTION = """Linear probe: the backbone stays frozen; the pooled features of every test-protocol clip of the
training videos are extracted once (and cached), a linear classifier (optionally after BatchNorm and
L2 normalisation, ViCC's probe) is trained on them, and each test video is scored by the softmax
averaged over its clips: top-1 and top-5. The probe is saved as a video classifier in
OUTPUT_DIR/linear_probe (AutoModelForVideoClassification.from_pretrained loads it)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("probe", help="linear probe on frozen features", description=DESCRIPTION)
    add_arguments(parser)
    finish_parser(parser, run)


def add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("probe head")
    group.add_argument(
        "--probe-epochs", type=int, default=100, help="epochs over the cached features (default: 100)"
    )
    group.add_argument("--probe-lr", type=float, default=1e-3, help="Adam learning rate (default: 1e-3)")
    group.add_argument("--probe-weight-decay", type=float, default=1e-3, help="(default: 1e-3)")
    group.add_argument("--probe-batch-size", type=int, default=256, help="clips per step (default: 256)")
    group.add_argument("--probe-bn", action="store_true", help="BatchNorm1d before the linear layer (ViCC)")
    group.add_argument("--probe-l2", action="store_true", help="L2-normalise before the linear layer (ViCC)")
    group.add_argument(
        "--dropout", type=float, default=0.0, help="dropout before the linear layer (default: 0)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_backbone_arguments(parser, model=True)
    add_dataset_arguments(parser)
    add_protocol_arguments(parser)
    add_probe_arguments(parser)
    add_run_arguments(parser)
    add_card_argument(parser)


def probe_arguments(args: argparse.Namespace):
    from ..evaluation.probe import ProbeArguments

    return ProbeArguments(
        epochs=args.probe_epochs,
        learning_rate=args.probe_lr,
        weight_decay=args.probe_weight_decay,
        batch_size=args.probe_batch_size,
        batchnorm=args.probe_bn,
        l2_norm=args.probe_l2,
        dropout=args.dropout,
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    from ..evaluation.probe import linear_probe

    evaluation = build_evaluation(args)
    metrics, classifier = linear_probe(
        evaluation.backbone,
        evaluation.features("train"),
        evaluation.features("test"),
        evaluation.class_names,
        probe_arguments(args),
    )
    if evaluation.accelerator.is_main_process:
        classifier.save_pretrained(Path(args.output_dir) / "linear_probe")
    publish(args, evaluation, "Linear probe", {evaluation.name: metrics}, "probe")
    return 0


main = command_main("probe")  # `python -m hf_vssl.cli.probe`, examples/probe.py


if __name__ == "__main__":
    sys.exit(main())
