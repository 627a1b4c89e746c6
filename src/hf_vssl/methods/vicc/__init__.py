"""ViCC (Toering et al., WACV 2022): cross-stream prototypical contrasting; registers the "vicc" method."""

from ..registry import MethodSpec, register_method
from .configuration_vicc import ViCCConfig
from .modeling_vicc import (
    CrossStreamRound,
    ViCCForPretraining,
    cross_stream_schedule,
)
from .views import ViCCAugment, ViCCSampler, build_sampler, uses_flow

register_method(
    MethodSpec(
        name="vicc",
        config_class=ViCCConfig,
        model_class=ViCCForPretraining,
        build_sampler=build_sampler,
        build_augment=ViCCAugment,
        uses_flow=uses_flow,
    )
)

__all__ = [
    "CrossStreamRound",
    "ViCCAugment",
    "ViCCConfig",
    "ViCCForPretraining",
    "ViCCSampler",
    "cross_stream_schedule",
]
