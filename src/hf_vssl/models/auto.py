"""Registration of hf_vssl configs and models with the transformers Auto classes."""

from __future__ import annotations

from transformers import AutoBackbone, AutoConfig, AutoModel, AutoModelForVideoClassification

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
