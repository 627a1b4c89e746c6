"""`hf-vssl finetune`: train the whole network with a new head, then the 10-clip test."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import (
    add_dataclass_arguments,
    add_evaluation_arguments,
    add_run_arguments,
    command_main,
    evaluation_from_args,
    finish_classifier,
    finish_parser,
    from_args,
    training_arguments,
)

DESCRIPTION = """Finetune: the backbone's weights initialise the network, a new linear classifier (after
dropout) is added and every weight is trained on random clips of the training videos (random
resized crop + flip) with the shared Accelerate loop; each test video is scored by the softmax
averaged over its test-protocol clips: top-1 and top-5. The model is saved in OUTPUT_DIR/finetuned
(AutoModelForVideoClassification.from_pretrained loads it)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..evaluation.finetune import FinetuneArguments

    parser = subparsers.add_parser("finetune", help="finetune with a new head", description=DESCRIPTION)
    add_evaluation_arguments(parser)
    add_dataclass_arguments(
        parser, FinetuneArguments, title="finetune recipe (not given by the papers; common UCF-101 settings)"
    )
    add_run_arguments(parser, training=True)
    finish_parser(parser, run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.finetune import FinetuneArguments, finetune

    training = training_arguments(args)
    evaluation = evaluation_from_args(args, cache=False, training=training, trackers=True)
    metrics, classifier, _, test_logits = finetune(
        evaluation.backbone,
        evaluation.dataset,
        evaluation.class_names,
        evaluation.processor,
        from_args(FinetuneArguments, args),
        training,
        accelerator=evaluation.accelerator,
        save_dir=Path(args.output_dir) / "finetuned",
        skip_corrupt=evaluation.skip_bad_videos,
        stream=evaluation.stream,
    )
    finish_classifier(args, evaluation, classifier, metrics, test_logits, "finetune")
    return 0


main = command_main("finetune")  # `python -m hf_vssl.cli.finetune`, examples/finetune.py


if __name__ == "__main__":
    sys.exit(main())
