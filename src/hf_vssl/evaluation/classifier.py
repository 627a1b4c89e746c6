"""Video classifiers built around an evaluated backbone, and their multi-clip test.

Linear probe and finetune both end as a `VsslForVideoClassification` (the backbone's own Auto
class), so either result can be saved with `save_pretrained` and reloaded with
`AutoModelForVideoClassification.from_pretrained`.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import AutoModelForVideoClassification

from ..models.modeling_utils import VsslBackboneModel, VsslForVideoClassification
from .accuracy import average_clip_probabilities, topk_accuracy
from .features import ClipOutputs


def build_classifier(
    backbone: VsslBackboneModel,
    class_names: Sequence[str],
    *,
    freeze_backbone: bool,
    dropout: float,
    probe_batchnorm: bool = False,
    probe_l2_norm: bool = False,
    probe_norm_order: str = "l2_bn",
) -> VsslForVideoClassification:
    """A classifier with `backbone`'s weights and a new head over `class_names`."""
    fields = {
        **backbone.config.to_dict(),
        "id2label": dict(enumerate(class_names)),
        "label2id": {name: i for i, name in enumerate(class_names)},
        "freeze_backbone": freeze_backbone,
        "classifier_dropout": dropout,
        "probe_batchnorm": probe_batchnorm,
        "probe_l2_norm": probe_l2_norm,
        "probe_norm_order": probe_norm_order,
    }
    config = type(backbone.config).from_dict(fields)
    classifier = AutoModelForVideoClassification.from_config(config)
    classifier.backbone.load_state_dict(backbone.state_dict())
    return classifier


def video_accuracy(clip_logits: ClipOutputs, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """top-k of the softmax averaged over each video's clips (and crops)."""
    probs = average_clip_probabilities(clip_logits.outputs, clip_logits.video_index, clip_logits.num_videos)
    return topk_accuracy(probs.numpy(), clip_logits.labels.numpy(), ks)
