"""A release's checkpoint files -> an hf_vssl checkpoint: the `Source` description and the driver."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .backbones import TARGET, Architecture
from .keymap import KeyMap, load_checkpoint_file, load_into

CONVERSION_RECORD = "conversion.json"  # provenance written next to the converted weights


@dataclass(frozen=True)
class Source:
    """One original release.

    prefix: where the backbone's keys sit in the release's state dict (after DataParallel's `module.`).
    drops: (regex, reason) of the release's other keys, consumed without a target here.
    original_input: the preprocessing the release trained with, for the model card.
    method: the hf_vssl method whose pretraining model also receives the release's pretext heads; then
        `heads(architecture)` renames them, `method_config(tensors, architecture, **options)` reads the method config
        fields from the renamed weights, and weights under the `fresh` prefixes, which the release never
        saved (e.g. a queue), keep their initial values. None: the output is the bare backbone.
    """

    name: str
    description: str
    architectures: tuple[Architecture, ...]
    prefix: str
    drops: tuple[tuple[str, str], ...]
    original_input: str
    method: str | None = None
    heads: Callable[[Architecture], KeyMap] | None = None
    method_config: Callable[..., dict[str, Any]] | None = None
    fresh: tuple[str, ...] = ()

    def architecture(self, name: str | None, state_dict: dict[str, Any], path: Path) -> Architecture:
        """The architecture called `name`, or the one whose marker key the state dict has."""
        names = [a.name for a in self.architectures]
        if name is not None:
            for architecture in self.architectures:
                if architecture.name == name:
                    return architecture
            raise ValueError(f"--arch {name} is not a {self.name} architecture; choose one of {names}")
        found = [a for a in self.architectures if a.matches(state_dict, self.prefix)]
        if len(found) != 1:
            sample = sorted(state_dict)[:6]
            raise ValueError(
                f"{path} does not look like a {self.name} checkpoint of any of {names} (first keys: {sample}); "
                "check --from, or name the architecture with --arch"
            )
        return found[0]

    def keymap(self, architecture: Architecture) -> KeyMap:
        if self.method is None:
            return architecture.keymap(self.prefix, TARGET) + KeyMap((), self.drops)
        return (
            architecture.keymap(self.prefix, f"backbone.{TARGET}")
            + self.heads(architecture)
            + KeyMap((), self.drops)
        )

    def build_model(self, architecture: Architecture, tensors: Mapping[str, torch.Tensor], **options: Any):
        """The hf_vssl model the renamed weights fit: the backbone, or the method's pretraining model."""
        from transformers import AutoConfig, AutoModel

        if options and self.method is None:
            raise ValueError(f"{sorted(options)} apply to releases with pretext heads, not to '{self.name}'")
        prefix = "" if self.method is None else "backbone."
        backbone = {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix + TARGET)}
        config = AutoConfig.for_model(
            architecture.model_type, **architecture.config_kwargs, **architecture.infer(backbone)
        )
        if self.method is None:
            return AutoModel.from_config(config)
        from ...methods.registry import get_method

        spec = get_method(self.method)
        fields = self.method_config(tensors, architecture, **options)
        return spec.model_class(spec.config_class(backbone_config=config.to_dict(), **fields))


@dataclass(frozen=True)
class ConversionReport:
    """What `convert_checkpoint` did; also written to `conversion.json` in the output folder."""

    source: str
    architecture: str
    source_file: str
    sha256: str
    model_type: str
    method: str | None
    converted_tensors: int
    dropped: dict[str, int]
    original_input: str

    def weights_origin_detail(self) -> str:
        return f"Source file `{self.source_file}` (sha256 {self.sha256[:16]}...), {self.architecture} layout."


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def convert_checkpoint(
    source: Source,
    checkpoint: str | Path,
    output_dir: str | Path,
    *,
    architecture: str | None = None,
    **options: Any,
) -> ConversionReport:
    """Convert `checkpoint` (a file of `source`'s release) into an hf_vssl checkpoint.

    Writes config.json + model.safetensors (+ the remote-code files and `auto_map`), and the
    provenance record `conversion.json`. Every source key must be converted or dropped by name, and the
    model must receive every weight it has: otherwise nothing is written and the error lists the keys.
    `options` go to the release's method config (ViCC: `stream="flow"`).
    """
    from ..remote_code import add_remote_code

    checkpoint, output_dir = Path(checkpoint), Path(output_dir)
    state_dict = load_checkpoint_file(checkpoint)
    arch = source.architecture(architecture, state_dict, checkpoint)
    weights = source.keymap(arch).apply(state_dict, str(checkpoint))
    model = source.build_model(arch, weights.tensors, **options)
    load_into(model, weights.tensors, str(checkpoint), fresh=source.fresh)
    model.save_pretrained(output_dir)
    add_remote_code(output_dir)
    report = ConversionReport(
        source=source.name,
        architecture=arch.name,
        source_file=checkpoint.name,
        sha256=_sha256(checkpoint),
        model_type=arch.model_type,
        method=source.method,
        converted_tensors=len(weights.tensors),
        dropped=weights.dropped_summary(),
        original_input=source.original_input,
    )
    (output_dir / CONVERSION_RECORD).write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report


def read_conversion_record(checkpoint_dir: str | Path) -> ConversionReport | None:
    """The `conversion.json` of a converted checkpoint, or None for one trained with hf-vssl."""
    path = Path(checkpoint_dir) / CONVERSION_RECORD
    if not path.is_file():
        return None
    try:
        return ConversionReport(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as err:
        raise ValueError(f"{path} is not a conversion record written by `hf-vssl convert`: {err}") from None


def drop(*patterns: str, reason: str) -> tuple[tuple[str, str], ...]:
    """(regex, reason) pairs for `Source.drops`; patterns are matched against whole keys."""
    return tuple((pattern, reason) for pattern in patterns)


__all__ = [
    "CONVERSION_RECORD",
    "ConversionReport",
    "Source",
    "convert_checkpoint",
    "drop",
    "read_conversion_record",
]
