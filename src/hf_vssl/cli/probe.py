"""`hf-vssl probe`: linear probe of a frozen backbone (features cached once, 10-clip test)."""

from __future__ import annotations

import argparse
import sys

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

DESCRIPTION = """Linear probe: the backbone stays frozen; the pooled features of every test-protocol clip of the
training videos are extracted once (and cached), a linear classifier after L2 normalisation and
BatchNorm (ViCC / CoCLR's released probe head: a probe without it also measures the scale of the
features, so a random init's ~100x smaller ones score lower; --no-probe-l2 --no-probe-batchnorm
trains the plain linear head) is trained on them, and each test video is scored by the softmax
averaged over its clips: top-1 and top-5. --probe-recipe released trains the head as ViCC / CoCLR's
release instead: on augmented random clips through the training loop. The probe is saved as a video
classifier in OUTPUT_DIR/linear_probe (AutoModelForVideoClassification.from_pretrained loads it)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("probe", help="linear probe on frozen features", description=DESCRIPTION)
    add_arguments(parser)
    finish_parser(parser, run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..evaluation.probe import ProbeArguments

    add_evaluation_arguments(parser)
    add_dataclass_arguments(parser, ProbeArguments, title="probe head", prefix="probe_", skip=("seed",))
    add_run_arguments(parser, training=False)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.probe import ProbeArguments, linear_probe, probe_clip_logits, released_linear_probe

    training = training_arguments(args)  # the run's seed: args.seed is None unless given
    probe = from_args(ProbeArguments, args, prefix="probe_", seed=training.seed)
    released = probe.recipe == "released"
    evaluation = evaluation_from_args(args, training=training, trackers=released)
    if released:  # the head trains on augmented random clips through the shared loop
        metrics, classifier, _, test_logits = released_linear_probe(
            evaluation.backbone,
            evaluation.dataset,
            evaluation.class_names,
            evaluation.processor,
            probe,
            training,
            accelerator=evaluation.accelerator,
            stream=evaluation.stream,
        )
    else:
        test = evaluation.features("test")
        metrics, classifier = linear_probe(
            evaluation.backbone, evaluation.features("train"), test, evaluation.class_names, probe
        )
        test_logits = probe_clip_logits(classifier, test)
    finish_classifier(args, evaluation, classifier, metrics, test_logits, "linear-probe")
    return 0


main = command_main("probe")  # `python -m hf_vssl.cli.probe`, examples/probe.py


if __name__ == "__main__":
    sys.exit(main())
