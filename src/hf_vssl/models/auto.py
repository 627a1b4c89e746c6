"""Registration of hf_vssl configs and models with the transformers Auto classes, and lookup by name."""

from __future__ import annotations

from transformers import AutoBackbone, AutoConfig, AutoModel, AutoModelForVideoClassification
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from .modeling_utils import VsslBackbone, VsslBackboneConfig, VsslBackboneModel, VsslForVideoClassification


def register_backbone(
    config_class: type[VsslBackboneConfig],
    model_class: type[VsslBackboneModel],
    classification_class: type[VsslForVideoClassification],
    backbone_class: type[VsslBackbone],
) -> None:
    """Make `AutoModel` / `AutoModelForVideoClassification` / `AutoBackbone` resolve `config_class.model_type`."""
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    AutoModelForVideoClassification.register(config_class, classification_class, exist_ok=True)
    AutoBackbone.register(config_class, backbone_class, exist_ok=True)


def backbone_types() -> list[str]:
    """The registered hf_vssl backbone model types ("vssl-c3d", "vssl-r3d", ...), sorted."""
    return sorted(
        k
        for k, cls in CONFIG_MAPPING.items()
        if k.startswith("vssl-") and issubclass(cls, VsslBackboneConfig)
    )


def backbone_model_type(name: str) -> str:
    """ "r3d" or "vssl-r3d" -> "vssl-r3d"; an unknown name is an error listing the known backbones."""
    model_type = name if name.startswith("vssl-") else f"vssl-{name}"
    known = backbone_types()
    if model_type not in known:
        raise ValueError(
            f"unknown backbone '{name}'; choose one of: {', '.join(k.removeprefix('vssl-') for k in known)}"
        )
    return model_type
