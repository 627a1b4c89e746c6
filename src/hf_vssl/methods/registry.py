"""The method registry: how the training loop, the CLI and the zoo find a method by name, and the
one builder of a run's method config (`build_method_config`).

Each method package registers one `MethodSpec` on import. The spec says how to build the config
and model, which frames to decode for one training sample (a clip sampler, run in the CPU data
workers) and how to turn a batch of decoded uint8 clips into model inputs on the accelerator
(batched augmentation and view construction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from torch import nn
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from ..models.auto import backbone_model_type
from ..typed_fields import coerce_value, field_types
from .modeling_pretraining import own_field_names

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


def build_method_config(
    method: str | None = None,
    backbone: str | None = None,
    *,
    preset: PresetFields | None = None,
    backbone_overrides: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> VsslPretrainingConfig:
    """The method config of a run: the one way the CLI, the zoo, the demo and scripts build it.

    Precedence: the method's defaults < the preset's method-config fields < `overrides`; the backbone
    is `backbone` (a type: "r3d", "s3d"...), else the preset's, else the method's default, with
    `backbone_overrides` (e.g. width_multiplier=0.25, depth=18) over its fields.
    preset: a zoo preset (`hf_vssl.get_preset(name)`, `hf-vssl zoo`): its method, backbone and the
        method-config fields it sets (clip geometry, stream, concept counts...).
    Values may be text (`--set`, YAML): each is coerced to its field's type; an unknown field of
    either config is an error listing the known ones.
    """
    zoo_entry = _zoo_entry(preset, method)
    spec = get_method(zoo_entry.method if zoo_entry else method)
    values = {}
    if zoo_entry is not None:
        values = coerce_overrides(
            spec.config_class, dict(zoo_entry.method_config), f"preset {zoo_entry.name}"
        )
    values |= coerce_overrides(spec.config_class, overrides or {}, "--set")
    if backbone is not None:
        model_type, backbone_values = backbone_model_type(backbone), {}
    elif zoo_entry is not None:
        model_type, backbone_values = zoo_entry.backbone_type, dict(zoo_entry.backbone_kwargs)
    else:  # the method's default backbone (e.g. Pace's compact R(2+1)D)
        default = spec.config_class.sub_configs_defaults["backbone_config"]
        model_type, backbone_values = default.model_type, dict(default.init_kwargs)
    backbone_values |= coerce_overrides(
        CONFIG_MAPPING[model_type], backbone_overrides or {}, "--backbone-config"
    )
    return spec.config_class(backbone_config={"model_type": model_type, **backbone_values}, **values)


class PresetFields(Protocol):
    """What the builder reads of a zoo preset (`hf_vssl.hub.zoo.Preset`; the zoo sits above this layer)."""

    name: str
    method: str
    backbone_type: str
    backbone_kwargs: tuple[tuple[str, Any], ...]
    method_config: tuple[tuple[str, Any], ...]


def _zoo_entry(preset: PresetFields | None, method: str | None) -> PresetFields | None:
    """The preset a run starts from (None without one); it must train `method` when both are named."""
    if preset is None and method is None:
        raise ValueError("name a method (--method) or a zoo preset (--preset)")
    if preset is not None and method is not None and method != preset.method:
        raise ValueError(f"preset '{preset.name}' is a '{preset.method}' model, not '{method}'")
    return preset


def coerce_overrides(config_class: type, values: dict[str, Any], option: str) -> dict[str, Any]:
    """`values` coerced to the fields of `config_class`; an unknown name is an error listing the fields."""
    hints = field_types(config_class)
    fields = own_field_names(config_class)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(
            f"{option}: unknown {config_class.__name__} field(s) {unknown}; fields: {', '.join(sorted(fields))}"
        )
    return {k: coerce_value(f"{option} {k}", v, hints[k], from_text=True) for k, v in values.items()}
