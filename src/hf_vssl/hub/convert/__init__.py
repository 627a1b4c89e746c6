"""Converters from the original releases' checkpoint files into hf_vssl checkpoints.

One module per release describes its layout (`Source`); the backbone layouts they share are in
`backbones`, the renaming and the safe loading in `keymap`. `hf-vssl convert --from <name>` runs
`convert_checkpoint` with `SOURCES[name]`.
"""

from __future__ import annotations

from . import coclr, mfo, pace, sdc, torchvision, vcop, vicc
from .keymap import ConvertedWeights, KeyMap, load_checkpoint_file, load_into
from .source import CONVERSION_RECORD, ConversionReport, Source, convert_checkpoint, read_conversion_record

SOURCES: dict[str, Source] = {
    module.SOURCE.name: module.SOURCE for module in (vicc, coclr, pace, vcop, mfo, sdc, torchvision)
}


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise ValueError(f"unknown source '{name}'; choose one of: {', '.join(SOURCES)}")
    return SOURCES[name]


__all__ = [
    "CONVERSION_RECORD",
    "SOURCES",
    "ConversionReport",
    "ConvertedWeights",
    "KeyMap",
    "Source",
    "convert_checkpoint",
    "get_source",
    "load_checkpoint_file",
    "load_into",
    "read_conversion_record",
]
