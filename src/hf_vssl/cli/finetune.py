"""`hf-vssl finetune`: train the whole network with a new head, then the 10-clip test."""

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
    add_training_arguments,
    build_evaluation,
    command_main,
    finish_parser,
    publish,
    training_arguments,
)

DESCRIPTION = """Finetune: the backbone's weights initialise the network, a new linear classifier (after
dropout) is added and every weight is trained on random clips of the training videos (random
resized crop + flip) with the shared Accelerate loop; each test video is scored by the softmax
averaged over its test-protocol clips: top-1 and top-5. The model is saved in OUTPUT_DIR/finetuned
(AutoModelForVideoClassification.from_pretrained loads it)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("finetune", help="finetune with a new head", description=DESCRIPTION)
    add_backbone_arguments(parser, model=True)
    add_dataset_arguments(parser)
    add_protocol_arguments(parser)
    group = parser.add_argument_group("finetune recipe (not given by the seeds; common UCF-101 settings)")
    group.add_argument("--epochs", type=int, default=50)
    group.add_argument(
        "--batch-size", type=int, default=32, help="global batch per optimizer step (default: 32)"
    )
    group.add_argument("--lr", type=float, default=0.01, help="learning rate of the new head (default: 0.01)")
    group.add_argument(
        "--backbone-lr-multiplier", type=float, default=1.0, help="backbone lr = lr x this (default: 1.0)"
    )
    group.add_argument("--optimizer", default="sgd", choices=("sgd", "adam", "adamw", "lars"))
    group.add_argument("--momentum", type=float, default=0.9)
    group.add_argument("--weight-decay", type=float, default=5e-4)
    group.add_argument("--lr-schedule", default="cosine", choices=("constant", "step", "cosine"))
    group.add_argument(
        "--lr-milestones", type=int, nargs="*", default=[], help="epochs of x0.1 for the step schedule"
    )
    group.add_argument(
        "--dropout", type=float, default=0.5, help="dropout before the classifier (default: 0.5)"
    )
    add_run_arguments(parser)
    add_training_arguments(parser)
    add_card_argument(parser)
    finish_parser(parser, run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.finetune import FinetuneArguments, finetune

    training = training_arguments(args)
    evaluation = build_evaluation(args, cache=False, training=training)
    ft_args = FinetuneArguments(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        backbone_lr_multiplier=args.backbone_lr_multiplier,
        optimizer=args.optimizer,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        lr_schedule=args.lr_schedule,
        lr_milestones=tuple(args.lr_milestones),
        dropout=args.dropout,
    )
    metrics, classifier, _ = finetune(
        evaluation.backbone,
        evaluation.dataset,
        evaluation.class_names,
        evaluation.protocol,
        ft_args,
        training,
        accelerator=evaluation.accelerator,
    )
    if evaluation.accelerator.is_main_process:
        classifier.save_pretrained(Path(args.output_dir) / "finetuned")
    publish(args, evaluation, "Finetune", {evaluation.name: metrics}, "finetune")
    return 0


main = command_main("finetune")  # `python -m hf_vssl.cli.finetune`, examples/finetune.py


if __name__ == "__main__":
    sys.exit(main())
