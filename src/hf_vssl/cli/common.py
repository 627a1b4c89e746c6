"""Options the commands share: generated from the dataclasses they fill, plus `--config FILE`.

Every option of a dataclass field (`TrainingArguments`, `DataArguments`, `EvaluationArguments`, ...)
is made from the field itself: its name (`batch_size` -> `--batch-size`), its type, its default and
the `help` / `metavar` / `aliases` of its metadata; a `Literal` type gives the option's choices and
`bounds` metadata (`hf_vssl.typed_fields.bounds`) its help's range. `from_args` builds the dataclass
back. So a field is declared once, where it is used.

A config file (YAML or JSON) is a mapping of option names (`batch_size` or `batch-size`) to values,
plus two nested mappings: `method_config` (fields of the method config, like repeated `--set`) and
`backbone_config` (like repeated `--backbone-config`). Options given on the command line win over
the file, and the file wins over the defaults. Values are coerced to the field's type, so `1e-3` is a
float in both places.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..typed_fields import coerce_value, describe_bounds, field_types, literal_choices

NESTED_CONFIG_KEYS = {"method_config": "set", "backbone_config": "backbone_config"}


def parse_assignments(items: list[str] | None, option: str) -> dict[str, Any]:
    """["width_multiplier=0.25", "paces=[1,2,3,4]"] -> {"width_multiplier": 0.25, "paces": [1, 2, 3, 4]}
    (values read as YAML: numbers, booleans, lists, strings; the receiving config coerces them)."""
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


def apply_config_file(
    args: argparse.Namespace, defaults: dict[str, Any], types_by_dest: dict[str, Any]
) -> argparse.Namespace:
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
            setattr(args, target, from_file + list(getattr(args, target) or []))  # the command line last
            continue
        if dest not in defaults or dest in ("config", "func"):
            raise ValueError(f"config file {args.config}: unknown option '{key}'")
        if getattr(args, dest) == defaults[dest]:
            if dest in types_by_dest:
                value = coerce_value(
                    f"config file {args.config}: {key}", value, types_by_dest[dest], from_text=True
                )
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
    types_by_dest = dict(getattr(parser, "_field_types", {}))
    parser.set_defaults(func=lambda args: run(apply_config_file(args, defaults, types_by_dest)))


# ----- dataclass fields <-> options -----


def add_dataclass_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    title: str | None = None,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    prefix: str = "",
    defaults: dict[str, Any] | None = None,
) -> None:
    """One option per field of the dataclass `cls` (the fields `only`, minus `skip`), in a group `title`.

    prefix: put before each option and destination ("probe_" -> `--probe-epochs`, dest probe_epochs).
    defaults: this command's defaults for some fields (shown in the help and filled into the dataclass).
    A field whose option the parser already has is skipped: shared fields appear once.
    """
    hints = field_types(cls)
    wanted = set(only) if only is not None else None
    group = parser.add_argument_group(title) if title else parser
    known = set(parser._option_string_actions)
    registry = parser.__dict__.setdefault("_field_types", {})
    for f in dataclasses.fields(cls):
        if f.name in skip or (wanted is not None and f.name not in wanted):
            continue
        dest = prefix + f.name
        option = "--" + dest.replace("_", "-")
        if option in known:
            continue
        hint = hints[f.name]
        default = (defaults or {}).get(f.name, _field_default(f))
        kwargs = _option_kwargs(hint, default, f.metadata)
        aliases = [a for a in f.metadata.get("aliases", ()) if a not in known]
        group.add_argument(option, *aliases, dest=dest, **kwargs)
        registry[dest] = hint
        known.update([option, *aliases])


def from_args(cls: type, args: argparse.Namespace, *, prefix: str = "", **values: Any) -> Any:
    """`cls(**fields)` from the options `add_dataclass_arguments` made (None = the field's default);
    `values` win. Every value is coerced to its field's type (errors name the option)."""
    hints = field_types(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in values or not hasattr(args, prefix + f.name):
            continue
        value = getattr(args, prefix + f.name)
        if value is None:
            continue
        option = "--" + (prefix + f.name).replace("_", "-")
        if typing.get_origin(hints[f.name]) is dict or hints[f.name] is dict:
            value = parse_assignments(value, option)
        kwargs[f.name] = coerce_value(option, value, hints[f.name], from_text=True)
    return cls(**kwargs, **values)


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _option_kwargs(hint: Any, default: Any, metadata: typing.Mapping[str, Any]) -> dict[str, Any]:
    """argparse keywords for a field of type `hint`; options default to None (= the field's default)
    so a config file can tell an unset option from one set to the default value."""
    base = _strip_optional(hint)
    notes = [f"{describe_bounds(metadata)}"] if describe_bounds(metadata) else []
    shown = default if not isinstance(default, (dict, list)) or default else None
    if shown is not None and not (base is bool and default is False):
        notes.append(f"default: {shown}")
    help_text = " ".join([metadata.get("help", ""), *(f"({note})" for note in notes)]).strip()
    kwargs: dict[str, Any] = {"help": help_text or None, "default": None}
    if "metavar" in metadata:
        kwargs["metavar"] = metadata["metavar"]
    choices = literal_choices(hint) or metadata.get("choices")
    if choices:
        kwargs["choices"] = choices
    if "const" in metadata:  # an option that may be given without a value
        kwargs.update(nargs="?", const=metadata["const"])
    origin = typing.get_origin(base)
    if base is bool:
        kwargs.pop("metavar", None)
        if default is True:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif default is None:  # unset unless given: "keep what the model says"
            kwargs.update(action="store_const", const=True)
        else:
            kwargs.update(action="store_true", default=False)
    elif origin is dict or base is dict:
        kwargs["action"] = "append"
        kwargs.setdefault("metavar", "KEY=VALUE")
    elif origin in (list, tuple):
        item = typing.get_args(base)[0] if typing.get_args(base) else str
        kwargs["nargs"] = len(metadata["metavar"]) if isinstance(metadata.get("metavar"), tuple) else "*"
        kwargs["type"] = item if item in (int, float) else str
    elif base in (int, float) and "const" not in metadata:
        kwargs["type"] = base
    elif literal_choices(base) and all(isinstance(c, int) for c in literal_choices(base)):
        kwargs["type"] = int
    return kwargs


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) == 1:
            return members[0]
        return next((m for m in members if typing.get_origin(m) in (list, tuple)), members[0])
    return hint


# ----- the argument sets of the commands -----

# the fields of TrainingArguments every command takes (evaluation commands train nothing else)
RUN_FIELDS = ("output_dir", "seed", "cpu", "mixed_precision", "num_workers", "progress_bar")


def add_run_arguments(parser: argparse.ArgumentParser, *, training: bool) -> None:
    """DataArguments and the run fields of TrainingArguments (all of them when the command trains)."""
    from ..data.sources import DataArguments
    from ..training.loop import TrainingArguments

    add_dataclass_arguments(parser, DataArguments, title="data")
    add_dataclass_arguments(parser, TrainingArguments, title="run", only=RUN_FIELDS)
    if training:
        add_dataclass_arguments(parser, TrainingArguments, title="training loop")


def add_evaluation_arguments(parser: argparse.ArgumentParser) -> None:
    from ..evaluation.runner import EvaluationArguments

    add_dataclass_arguments(
        parser,
        EvaluationArguments,
        title="network and test clips (defaults: the checkpoint's video processor, else 16 frames, "
        "crop 112 of 128x171 frames, 10 uniform clips)",
    )
    parser.add_argument(
        "--update-card",
        action="store_true",
        help="also add the results to the evaluated checkpoint's model card (a local folder); by default "
        "results go only into OUTPUT_DIR",
    )


def training_arguments(args: argparse.Namespace, **values: Any):
    """`TrainingArguments` from the options `add_run_arguments` made."""
    from ..training.loop import TrainingArguments

    require(args, "output_dir")
    training = from_args(TrainingArguments, args, **values)
    if not training.progress_bar:  # every bar: ours, and those of transformers and datasets
        import datasets
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        datasets.disable_progress_bars()
    return training


def data_arguments(args: argparse.Namespace):
    from ..data.sources import DataArguments

    require(args, "dataset")
    return from_args(DataArguments, args)


def evaluation_from_args(
    args: argparse.Namespace, *, cache: bool = True, training=None, trackers: bool = False
):
    """The `Evaluation` of an evaluation command's options."""
    from ..evaluation.runner import EvaluationArguments, build_evaluation

    return build_evaluation(
        data_arguments(args),
        from_args(EvaluationArguments, args),
        training or training_arguments(args),
        cache=cache,
        trackers=trackers,
    )


def publish(
    args: argparse.Namespace, evaluation, heading: str, rows: dict[str, dict[str, Any]], name: str
) -> None:
    """`hf_vssl.evaluation.report.publish_results` with the command's options."""
    from ..evaluation.report import publish_results

    publish_results(
        evaluation,
        rows,
        output_dir=args.output_dir,
        name=name,
        heading=heading,
        dataset_name=Path(args.dataset).name,
        update_card=args.update_card,
        model=args.model,
    )


# a classifier command's task -> (its model folder in OUTPUT_DIR, its report's name, the report's heading)
CLASSIFIER_TASKS = {
    "linear-probe": ("linear_probe", "probe", "Linear probe"),
    "finetune": ("finetuned", "finetune", "Finetune"),
}


def finish_classifier(
    args: argparse.Namespace, evaluation, classifier, metrics: dict[str, float], test_logits, task: str
) -> None:
    """The end of `probe` and `finetune`: the classifier saved into OUTPUT_DIR/<folder>
    (`hf_vssl.evaluation.report.export_classifier`), the test clip logits for `hf-vssl fuse` (both on
    the main process only), then the results published with the videos the test skipped."""
    from ..evaluation.fusion import save_clip_outputs
    from ..evaluation.report import export_classifier

    folder, name, heading = CLASSIFIER_TASKS[task]
    evaluation.note_skipped("test", test_logits.skipped)
    if evaluation.accelerator.is_main_process:
        export_classifier(
            classifier,
            Path(args.output_dir) / folder,
            processor=evaluation.processor,
            metrics=metrics,
            task=task,
            dataset_name=Path(args.dataset).name,
            base_model=args.model,
        )
        save_clip_outputs(args.output_dir, test_logits)
    publish(args, evaluation, heading, {evaluation.name: metrics}, name)


def require(args: argparse.Namespace, *names: str) -> None:
    """Options required from either the command line or the config file."""
    for name in names:
        if getattr(args, name, None) in (None, ""):
            raise ValueError(f"--{name.replace('_', '-')} is required (on the command line or in --config)")


def command_main(command: str) -> Callable[[Sequence[str] | None], int]:
    """The `main(argv)` of one command's script: `hf-vssl <command>` with the script's arguments, so
    `accelerate launch examples/<command>.py ...` takes exactly the CLI's options."""

    def main(argv: Sequence[str] | None = None) -> int:
        from .main import main as hf_vssl_main

        return hf_vssl_main([command, *(sys.argv[1:] if argv is None else argv)])

    return main
