"""`hf-vssl probe`: linear probe of a frozen backbone (features cached once, 10-clip test)."""

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
    finish_parser,
    from_args,
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..evaluation.probe import ProbeArguments

    add_evaluation_arguments(parser)
    add_dataclass_arguments(parser, ProbeArguments, title="probe head", prefix="probe_", skip=("seed",))
    add_run_arguments(parser, training=False)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.probe import ProbeArguments, linear_probe

    evaluation = evaluation_from_args(args)
    metrics, classifier = linear_probe(
        evaluation.backbone,
        evaluation.features("train"),
        evaluation.features("test"),
        evaluation.class_names,
        from_args(ProbeArguments, args, prefix="probe_", seed=args.seed),
    )
    if evaluation.accelerator.is_main_process:
        classifier.save_pretrained(Path(args.output_dir) / "linear_probe")
    publish(args, evaluation, "Linear probe", {evaluation.name: metrics}, "probe")
    return 0


main = command_main("probe")  # `python -m hf_vssl.cli.probe`, examples/probe.py


if __name__ == "__main__":
    sys.exit(main())
