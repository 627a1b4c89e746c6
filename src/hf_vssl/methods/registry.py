"""The method registry: how the training loop, the CLI and the zoo find a method by name.

Each method package registers one `MethodSpec` on import. The spec says how to build the config
and model, which frames to decode for one training sample (a clip sampler, run in the CPU data
workers) and how to turn a batch of decoded uint8 clips into model inputs on the accelerator
(batched augmentation and view construction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from ..data.samplers import ClipSampler
    from .modeling_pretraining import VsslForPretraining, VsslPretrainingConfig


@dataclass(frozen=True)
class MethodSpec:
    """name: CLI name ("vicc", "pace", "mfo", "sdc").
    build_sampler(config) -> ClipSampler: frame indices of every view of one sample.
    build_augment(config) -> nn.Module: batch dict of uint8 (B, T, H, W, C) views on the device ->
        dict of keyword arguments for `model_class.forward`.
    uses_flow(config) -> bool: whether samples also read the optical-flow video of each row."""

    name: str
    config_class: type[VsslPretrainingConfig]
    model_class: type[VsslForPretraining]
    build_sampler: Callable[[VsslPretrainingConfig], ClipSampler]
    build_augment: Callable[[VsslPretrainingConfig], nn.Module]
    uses_flow: Callable[[VsslPretrainingConfig], bool] = lambda config: False


METHODS: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    METHODS[spec.name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    """The spec of `name`; an unknown name is an error listing the known ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method '{name}'; choose one of: {', '.join(sorted(METHODS))}")
    return METHODS[name]
