"""MFO, multi-level feature optimisation (Qian et al., ICCV 2021): importing this package registers the
method."""

from ..registry import MethodSpec, register_method
from .configuration_mfo import MFOConfig
from .modeling_mfo import MFOForPretraining
from .views import MFOAugment, build_sampler

register_method(
    MethodSpec(
        name="mfo",
        config_class=MFOConfig,
        model_class=MFOForPretraining,
        build_sampler=build_sampler,
        build_augment=MFOAugment,
    )
)

__all__ = ["MFOAugment", "MFOConfig", "MFOForPretraining"]
