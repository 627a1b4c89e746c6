"""SDC, static and dynamic concepts (Qian et al., ECCV 2022): importing this package registers the method."""

from ..registry import MethodSpec, register_method
from .configuration_sdc import SDCConfig
from .modeling_sdc import SDCForPretraining
from .views import SDCAugment, build_sampler

register_method(
    MethodSpec(
        name="sdc",
        config_class=SDCConfig,
        model_class=SDCForPretraining,
        build_sampler=build_sampler,
        build_augment=SDCAugment,
    )
)

__all__ = ["SDCAugment", "SDCConfig", "SDCForPretraining"]
