"""Pace Prediction pretraining (Wang et al., ECCV 2020; docs/METHODS.md#pace-prediction).

Clips played at a pace drawn from a pace set: the backbone's pooled features go through a linear
pace head (L_cls, cross-entropy over the pace classes) and, optionally, a contrastive term over the
global batch: same context (algorithm 1, the two clips of a video at different paces are positives)
or same pace (algorithm 2, clips of equal pace label are positives), on the pooled features or, with
`contrastive_projection_dim`, on a SimCLR-style projection of them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.contrastive import group_info_nce
from ...nn.distributed import get_rank
from ..modeling_pretraining import VsslForPretraining, VsslPretrainingOutput
from .configuration_pace import PaceConfig


class PaceForPretraining(VsslForPretraining):
    """forward(clips: (B, V, C, T, H, W) with V = config.clips_per_video, pace_labels: (B, V)) ->
    loss, loss_terms {"cls", "ctr"}, metrics {"pace_accuracy"} (Pace Prediction supp. Table 1's "rea. acc."),
    logits (B * V, num_classes) and the pooled features as embeddings (B * V, F)."""

    config_class = PaceConfig

    def __init__(self, config: PaceConfig) -> None:
        super().__init__(config)
        dim = config.backbone_config.hidden_size
        self.pace_head = nn.Linear(dim, config.num_classes)
        # SimCLR's projection g (laura-wang/video-pace issue #4: "similar as the SimCLR framework")
        self.contrastive_head: nn.Module | None = None
        if config.contrastive != "none" and config.contrastive_projection_dim > 0:
            self.contrastive_head = nn.Sequential(
                nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, config.contrastive_projection_dim)
            )
        self.post_init()

    def forward(
        self,
        clips: torch.Tensor,
        pace_labels: torch.Tensor,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> VsslPretrainingOutput | tuple:
        config = self.config
        views = config.clips_per_video
        if clips.ndim != 6 or clips.shape[1] != views or pace_labels.shape != clips.shape[:2]:
            raise ValueError(
                f"Pace ({config.contrastive}) expects clips (B, {views}, C, T, H, W) and pace_labels (B, {views}), "
                f"got {tuple(clips.shape)} and {tuple(pace_labels.shape)}"
            )
        batch = clips.shape[0]
        features = self.backbone(clips.flatten(0, 1)).pooler_output  # (B * V, F), video-major
        logits = self.pace_head(features)
        labels = pace_labels.flatten().long()
        terms = {"cls": config.lambda_cls * F.cross_entropy(logits.float(), labels)}
        if config.contrastive != "none":
            if config.contrastive == "same_context":  # one group per video of the global batch
                videos = get_rank() * batch + torch.arange(batch, device=clips.device)
                groups = videos.repeat_interleave(views)
            else:  # same pace
                groups = labels
            embeddings = features if self.contrastive_head is None else self.contrastive_head(features)
            terms["ctr"] = config.lambda_ctr * group_info_nce(
                embeddings, groups, config.contrastive_temperature
            )
        loss = torch.stack(list(terms.values())).sum()
        output = VsslPretrainingOutput(
            loss=loss,
            loss_terms={name: value.detach() for name, value in terms.items()},
            metrics={"pace_accuracy": (logits.argmax(dim=1) == labels).float().mean().detach()},
            logits=logits.detach(),
            embeddings=features.detach(),
        )
        return output if return_dict is not False else output.to_tuple()


__all__ = ["PaceForPretraining"]
