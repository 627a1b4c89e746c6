"""Options the training and evaluation commands share, and `--config FILE` (YAML or JSON).

A config file is a mapping of option names (`batch_size` or `batch-size`) to values, plus two
nested mappings: `method_config` (fields of the method config, like repeated `--set`) and
`backbone_config` (like repeated `--backbone-config`). Options given on the command line win over
the file, and the file wins over the defaults.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

NESTED_CONFIG_KEYS = {"method_config": "set", "backbone_config": "backbone_config"}


def parse_assignments(items: list[str] | None, option: str) -> dict[str, Any]:
    """["width_multiplier=0.25", "pace_set=[1,2,3,4]"] -> {"width_multiplier": 0.25, "pace_set": [1, 2, 3, 4]}
    (values read as YAML: numbers, booleans, lists, strings)."""
    import yaml

    values: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{option} expects KEY=VALUE, got '{item}'")
        values[key.strip().replace("-", "_")] = yaml.safe_load(raw) if raw.strip() else None
    return values


def load_config_file(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text())  # JSON is YAML
    except yaml.YAMLError as err:
        raise ValueError(f"config file {path} is not valid YAML/JSON: {err}") from None
    if not isinstance(values, dict):
        raise ValueError(f"config file {path} must hold a mapping of option names to values")
    return values


def apply_config_file(args: argparse.Namespace, defaults: dict[str, Any]) -> argparse.Namespace:
    """Fill every option the command line left at its default from `args.config`."""
    if not getattr(args, "config", None):
        return args
    values = load_config_file(args.config)
    for key, value in values.items():
        dest = key.replace("-", "_")
        if dest in NESTED_CONFIG_KEYS:
            if not isinstance(value, dict):
                raise ValueError(
                    f"config file {args.config}: '{key}' must be a mapping of field names to values"
                )
            target = NESTED_CONFIG_KEYS[dest]
            from_file = [f"{k}={_yaml_scalar(v)}" for k, v in value.items()]
            setattr(
                args, target, from_file + list(getattr(args, target) or [])
            )  # the command line comes last
            continue
        if dest not in defaults or dest in ("config", "func"):
            raise ValueError(f"config file {args.config}: unknown option '{key}'")
        if getattr(args, dest) == defaults[dest]:
            setattr(args, dest, value)
    return args


def _yaml_scalar(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def finish_parser(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int]) -> None:
    """Route the command through `--config` handling before `run`."""
    parser.add_argument(
        "--config", metavar="FILE", help="YAML/JSON file of option values (command-line options win)"
    )
    defaults = {action.dest: action.default for action in parser._actions}
    parser.set_defaults(func=lambda args: run(apply_config_file(args, defaults)))


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset", required=False, metavar="DIR", help="dataset root folder (or a saved DatasetDict)"
    )
    group.add_argument(
        "--dataset-format",
        default="auto",
        choices=("auto", "ucf101", "hmdb51", "kinetics400", "diving48", "folder", "saved"),
        help="layout of --dataset; auto recognises UCF-101, HMDB-51 and saved DatasetDicts (default: auto)",
    )
    group.add_argument(
        "--split", type=int, default=1, help="official split of UCF-101 / HMDB-51 (default: 1)"
    )
    group.add_argument("--num-workers", type=int, default=4, help="decoding processes (default: 4)")


def add_backbone_arguments(parser: argparse.ArgumentParser, *, model: bool) -> None:
    group = parser.add_argument_group("network")
    if model:
        group.add_argument(
            "--model",
            metavar="PATH_OR_HUB_ID",
            help="checkpoint to evaluate: a folder or Hub id AutoModel.from_pretrained loads "
            "(a pretraining checkpoint gives its backbone); omit it and name --backbone for a random init",
        )
    group.add_argument(
        "--backbone",
        help="backbone type: r3d, r2plus1d, s3d, c3d ("
        + ("random init when no --model" if model else "default: the method's")
        + ")",
    )
    group.add_argument(
        "--backbone-config",
        action="append",
        metavar="KEY=VALUE",
        help="backbone config field, repeatable (e.g. depth=18, width_multiplier=0.25)",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run")
    group.add_argument(
        "--output-dir", required=False, metavar="DIR", help="where results, logs and models go"
    )
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    group.add_argument(
        "--mixed-precision",
        default="auto",
        choices=("auto", "no", "bf16", "fp16"),
        help="autocast dtype; auto = bf16 on CUDA GPUs that support it, float32 (no) on CPU (default: auto)",
    )


def add_protocol_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "test protocol (defaults: the checkpoint's pretraining clip, else 16 frames, crop 112, frames 128x171)"
    )
    group.add_argument("--clip-len", type=int, help="frames per clip")
    group.add_argument("--crop-size", type=int, help="centre crop side")
    group.add_argument(
        "--frame-size", type=int, nargs=2, metavar=("H", "W"), help="frames are resized to H x W first"
    )
    group.add_argument("--num-clips", type=int, default=10, help="uniform clips per video (default: 10)")
    group.add_argument("--stride", type=int, default=1, help="frame step inside a clip (default: 1)")
    group.add_argument(
        "--dense-window-stride", type=int, help="ViCC's variant: a clip every N frames instead of --num-clips"
    )
    group.add_argument(
        "--ten-crop", action="store_true", help="ViCC's variant: 10 crops per clip (corners, centre, flips)"
    )
    group.add_argument("--eval-batch-size", type=int, default=32, help="crops per forward pass (default: 32)")
    group.add_argument("--cache-dir", metavar="DIR", help="feature cache (default: OUTPUT_DIR/feature_cache)")
    group.add_argument("--no-cache", action="store_true", help="always extract features again")


def require(args: argparse.Namespace, *names: str) -> None:
    """Options required from either the command line or the config file."""
    for name in names:
        if getattr(args, name, None) in (None, ""):
            raise ValueError(f"--{name.replace('_', '-')} is required (on the command line or in --config)")


def build_evaluation(args: argparse.Namespace, *, cache: bool = True, training=None):
    """The `Evaluation` of the evaluation commands' shared options; `training` (TrainingArguments)
    when the command also trains (its accelerator then logs to TensorBoard)."""
    from ..evaluation.runner import Evaluation, default_protocol, load_backbone
    from ..training.data import load_video_dataset
    from ..training.loop import TrainingArguments, make_accelerator

    require(args, "dataset", "output_dir")
    output_dir = Path(args.output_dir)
    dataset = load_video_dataset(args.dataset, args.dataset_format, args.split)
    backbone, name = load_backbone(
        args.model,
        args.backbone,
        parse_assignments(args.backbone_config, "--backbone-config"),
        seed=args.seed,
    )
    protocol = default_protocol(
        backbone,
        clip_len=args.clip_len,
        crop_size=args.crop_size,
        frame_size=args.frame_size,
        num_clips=args.num_clips,
        stride=args.stride,
        dense_window_stride=args.dense_window_stride,
        ten_crop=args.ten_crop or None,
    )
    run = training or TrainingArguments(
        output_dir=output_dir, cpu=args.cpu, mixed_precision=args.mixed_precision, seed=args.seed
    )
    cache_dir = None if (args.no_cache or not cache) else Path(args.cache_dir or output_dir / "feature_cache")
    return Evaluation(
        backbone=backbone,
        name=name,
        dataset=dataset,
        protocol=protocol,
        accelerator=make_accelerator(run, log_with="tensorboard" if training else None),
        cache_dir=cache_dir,
        batch_size=args.eval_batch_size,
        num_workers=args.num_workers,
    )


def publish(
    args: argparse.Namespace, evaluation, heading: str, rows: dict[str, dict[str, Any]], name: str
) -> None:
    """Write `<name>.json` / `<name>.md` in the output folder, print the table, and put it into the
    evaluated checkpoint's model card when --model is a local folder with one."""
    from ..evaluation.report import markdown_table, update_model_card, write_report

    if not evaluation.accelerator.is_main_process:
        return
    json_path, md_path = write_report(
        rows, args.output_dir, name, dataset=args.dataset, **evaluation.describe()
    )
    print(markdown_table(rows))
    print(f"results: {json_path} and {md_path}")
    card = Path(args.model) / "README.md" if args.model else None
    if card is not None and card.is_file() and not args.no_card:
        update_model_card(card, f"{heading} on {Path(args.dataset).name}", markdown_table(rows))
        print(f"model card updated: {card}")


def add_card_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-card", action="store_true", help="do not add the results to the checkpoint's model card"
    )


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the shared training loop (pretrain, finetune)."""
    group = parser.add_argument_group("training loop")
    group.add_argument("--gradient-accumulation-steps", type=int, default=1)
    group.add_argument(
        "--channels-last",
        default="auto",
        choices=("auto", "on", "off"),
        help="channels_last_3d memory format; auto = on CUDA only (default: auto)",
    )
    group.add_argument("--compile", action="store_true", help="torch.compile the model (inductor)")
    group.add_argument(
        "--no-sync-bn", action="store_true", help="keep per-process BatchNorm under several processes"
    )
    group.add_argument(
        "--find-unused-parameters",
        action="store_true",
        help="DDP option for partly frozen models (on by itself for methods whose heads start late: MFO, SDC)",
    )
    group.add_argument("--max-grad-norm", type=float, help="clip the gradient norm (default: no clipping)")
    group.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    group.add_argument(
        "--save-steps", type=int, default=500, help="checkpoint every N optimizer steps (default: 500)"
    )
    group.add_argument(
        "--save-total-limit", type=int, default=2, help="checkpoints kept (0 = all; default: 2)"
    )
    group.add_argument(
        "--logging-steps", type=int, default=10, help="log every N optimizer steps (default: 10)"
    )
    group.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="CHECKPOINT",
        help="continue a run: a checkpoint folder, or the newest one in OUTPUT_DIR when no value is given",
    )
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="start over in an OUTPUT_DIR that holds a run (deletes its checkpoints and model)",
    )
    group.add_argument(
        "--skip-nonfinite-steps",
        action="store_true",
        help="skip (and count) optimizer steps with a NaN/inf loss or gradient instead of stopping",
    )
    group.add_argument("--no-progress-bar", action="store_true")


def training_arguments(args: argparse.Namespace, output_dir: Path | None = None):
    """`TrainingArguments` from the options of `add_training_arguments` / `add_run_arguments`."""
    from ..training.loop import TrainingArguments

    return TrainingArguments(
        output_dir=Path(output_dir or args.output_dir),
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        num_workers=args.num_workers,
        seed=args.seed,
        mixed_precision=args.mixed_precision,
        channels_last=args.channels_last,
        compile=args.compile,
        sync_bn=not args.no_sync_bn,
        find_unused_parameters=args.find_unused_parameters,
        max_grad_norm=args.max_grad_norm,
        max_steps=args.max_steps,
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        logging_steps=args.logging_steps,
        resume=args.resume,
        overwrite=args.overwrite,
        skip_nonfinite_steps=args.skip_nonfinite_steps,
        cpu=args.cpu,
        progress_bar=not args.no_progress_bar,
    )


def command_main(command: str) -> Callable[[Sequence[str] | None], int]:
    """The `main(argv)` of one command's script: `hf-vssl <command>` with the script's arguments, so
    `accelerate launch examples/<command>.py ...` takes exactly the CLI's options."""

    def main(argv: Sequence[str] | None = None) -> int:
        from .main import main as hf_vssl_main

        return hf_vssl_main([command, *(sys.argv[1:] if argv is None else argv)])

    return main
