"""`hf-vssl pretrain`: self-supervised pretraining of any registered method with Accelerate.

Run it as is on one device, or `accelerate launch [--num_processes N] -m hf_vssl.cli.pretrain ...`
(`examples/pretrain.py` takes the same arguments) for several.
"""

from __future__ import annotations

import argparse
import sys

from .common import (
    add_run_arguments,
    command_main,
    data_arguments,
    finish_parser,
    parse_assignments,
    training_arguments,
)

DESCRIPTION = """Pretrain a backbone with a pretext method (vicc, pace, mfo, sdc, or any registered one).
The recipe (optimiser, learning rate and schedule, epochs, global batch, clip length, crop) is the
method config's, i.e. the paper's; override any field with --set FIELD=VALUE, or start from a zoo
--preset. Checkpoints for --resume are written every --save-steps optimizer steps; the final model
(backbone + pretraining heads) is saved with save_pretrained into OUTPUT_DIR/model with a model card."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="self-supervised pretraining (one Accelerate loop for every method)",
        description=DESCRIPTION,
    )
    add_arguments(parser)
    finish_parser(parser, run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("method")
    what.add_argument("--method", help="pretext method: vicc, pace, mfo, sdc (or a zoo --preset)")
    what.add_argument(
        "--preset",
        help="zoo preset (hf-vssl zoo): its method, backbone and method-config fields (stream, clip...)",
    )
    what.add_argument("--set", action="append", metavar="FIELD=VALUE", help="method config field, repeatable")
    what.add_argument("--epochs", type=int, help="shortcut for --set epochs=N")
    what.add_argument(
        "--batch-size", type=int, help="global batch per optimizer step; shortcut for --set batch_size=N"
    )
    what.add_argument("--lr", type=float, help="shortcut for --set learning_rate=X")
    what.add_argument(
        "--init-backbone-from", metavar="PATH_OR_HUB_ID", help="start from these backbone weights"
    )
    vicc = parser.add_argument_group("ViCC stage 2 (Toering et al., WACV 2022)")
    vicc.add_argument(
        "--cross-stream",
        nargs=2,
        metavar=("RGB_MODEL", "FLOW_MODEL"),
        help="run the cross-stream alternation from the two stage-1 exports (OUTPUT_DIR/model of each run); "
        "--set fields override the stage-1 configs",
    )
    vicc.add_argument(
        "--rounds", type=int, default=4, help="alternation rounds (default: 4, RGB->flow->RGB->flow)"
    )
    vicc.add_argument("--first-stream", default="rgb", choices=("rgb", "flow"))
    network = parser.add_argument_group("network")
    network.add_argument("--backbone", help="backbone type: r3d, r2plus1d, s3d, c3d (default: the method's)")
    network.add_argument(
        "--backbone-config",
        action="append",
        metavar="KEY=VALUE",
        help="backbone config field, repeatable (e.g. depth=18, width_multiplier=0.25)",
    )
    add_run_arguments(parser, training=True)


def run(args: argparse.Namespace) -> int:
    from ..hub.zoo import get_preset
    from ..methods import build_method_config
    from ..training.pretrain import pretrain

    overrides = parse_assignments(args.set, "--set")
    shortcuts = {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.lr}
    overrides.update({k: v for k, v in shortcuts.items() if v is not None})
    if args.cross_stream:
        return run_cross_stream(args, overrides)
    config = build_method_config(
        args.method,
        args.backbone,
        preset=get_preset(args.preset) if args.preset else None,
        backbone_overrides=parse_assignments(args.backbone_config, "--backbone-config"),
        overrides=overrides,
    )
    data = data_arguments(args)
    training = training_arguments(args)
    dataset = data.open_stream() if training.streaming else data.load()
    output = pretrain(
        config, dataset, training, init_backbone_from=args.init_backbone_from, dataset_name=data.name
    )
    from accelerate import PartialState

    from ..training.loop import LOGS_DIR

    if PartialState().is_main_process:
        logs = "none (--report-to none)" if training.report_to == "none" else training.output_dir / LOGS_DIR
        print(f"model: {output.model_dir}\nmodel card: {output.card_path}\nlogs: {logs}")
    return 0


def run_cross_stream(args: argparse.Namespace, overrides: dict) -> int:
    from accelerate import PartialState

    from ..training.pretrain import pretrain_cross_stream

    if args.method not in (None, "vicc") or args.preset or args.backbone:
        raise ValueError(
            "--cross-stream is ViCC's stage 2: it takes the method and backbone of the stage-1 models"
        )
    data, training = data_arguments(args), training_arguments(args)
    dataset = data.open_stream() if training.streaming else data.load()
    rgb, flow = args.cross_stream
    outputs = pretrain_cross_stream(
        rgb, flow, dataset, training, rounds=args.rounds, first_stream=args.first_stream, overrides=overrides,
        dataset_name=data.name,
    )  # fmt: skip
    if PartialState().is_main_process:
        for output in outputs:
            print(f"round model: {output.model_dir}")
    return 0


main = command_main("pretrain")  # `python -m hf_vssl.cli.pretrain`, examples/pretrain.py


if __name__ == "__main__":
    sys.exit(main())
