"""Pace Prediction (Wang et al., ECCV 2020); registers the "pace" method."""

from ..registry import MethodSpec, register_method
from .attention import attention_maps, attention_overlay, save_attention_overlay
from .configuration_pace import SEED_003_CONFIGURATIONS, PaceConfig
from .evaluation import pace_accuracy
from .modeling_pace import PaceForPretraining
from .views import PaceAugment, build_sampler

register_method(
    MethodSpec(
        name="pace",
        config_class=PaceConfig,
        model_class=PaceForPretraining,
        build_sampler=build_sampler,
        build_augment=PaceAugment,
    )
)

__all__ = [
    "SEED_003_CONFIGURATIONS",
    "PaceAugment",
    "PaceConfig",
    "PaceForPretraining",
    "attention_maps",
    "attention_overlay",
    "pace_accuracy",
    "save_attention_overlay",
]
