"""MFO pretraining: multi-level feature optimisation (Qian et al., ICCV 2021; docs/METHODS.md#mfo).

One backbone pass over clip 0, clip 1 (two halves of 32 frames: the positives) and the overview clip
(every second frame of the 32) gives low / mid / high feature maps. The high level learns by instance
contrast (L_high) and by prototypes (swapped prediction with Sinkhorn targets); from
`graph_start_epoch` its similarities and prototype assignments form the graph G_ins, the soft targets
of L_mul on every level. Low and mid levels pass a motion-excitation module and contrast against
temporally transformed copies of themselves (L_aug); every level retrieves the timestamps of the short
clips in the overview (L_ret).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...models.modeling_utils import MULTILEVEL_NAMES
from ...nn.contrastive import group_info_nce
from ...nn.distributed import all_gather_no_grad, all_gather_with_grad, get_rank
from ...nn.prototypes import EmbeddingQueue, Prototypes
from ...nn.swapped import sinkhorn_targets, swapped_prediction_loss
from ..modeling_pretraining import VsslForPretraining, VsslPretrainingOutput
from .configuration_mfo import MFOConfig
from .graph import graph_contrast_loss, instance_graph
from .temporal import MotionExcitation, temporal_transform
from .timestamp import check_time_steps, timestamp_retrieval_loss

logger = logging.getLogger(__name__)


def _projection(in_dim: int, out_dim: int) -> nn.Sequential:
    """Per-time-step projection (the released code's 1x1 Conv1d pair): (.., in_dim) -> (.., out_dim)."""
    return nn.Sequential(nn.Linear(in_dim, in_dim), nn.ReLU(inplace=True), nn.Linear(in_dim, out_dim))


class MFOLevelHead(nn.Module):
    """The heads of one feature level: optional motion excitation, spatial pooling, then one projection
    per use (instance contrast, graph contrast, timestamp retrieval)."""

    def __init__(self, channels: int, config: MFOConfig, motion: bool) -> None:
        super().__init__()
        self.motion = MotionExcitation(channels, config.motion_reduction) if motion else None
        self.contrast = _projection(channels, config.projection_dim)
        self.graph = _projection(channels, config.projection_dim)
        self.retrieval = _projection(channels, config.projection_dim) if config.use_ret_loss else None

    def steps(self, features: torch.Tensor) -> torch.Tensor:
        """features: (N, C, T, H, W) -> per-time-step vectors (N, T, C)."""
        if self.motion is not None:
            features = self.motion(features)
        return features.mean(dim=(3, 4)).transpose(1, 2)


class MFOForPretraining(VsslForPretraining):
    """MFO on any backbone with multi-level features (R3D-18 Hara stem by default, S3D).

    forward(clips: (B, 2, C, T, H, W) clip 0 and clip 1, overview: (B, C, T, H, W)) -> loss and its terms.
    The overview is only needed while timestamp retrieval is on.
    """

    config_class = MFOConfig

    def __init__(self, config: MFOConfig) -> None:
        super().__init__(config)
        if not config.backbone_config.multilevel_stages:
            raise ValueError(
                f"MFO needs low / mid / high stages; {config.backbone_config.model_type} sets no multilevel_stages"
            )
        low, mid, high = config.backbone_config.multilevel_channels
        self.levels = nn.ModuleDict(
            {
                "low": MFOLevelHead(low, config, motion=True),
                "mid": MFOLevelHead(mid, config, motion=True),
                "high": MFOLevelHead(high, config, motion=False),
            }
        )
        # released model.py: Linear-BN-ReLU-Linear on the pooled high-level feature, then prototypes
        self.global_projection = nn.Sequential(
            nn.Linear(high, high),
            nn.BatchNorm1d(high),
            nn.ReLU(inplace=True),
            nn.Linear(high, config.projection_dim),
        )
        self.prototypes = Prototypes(config.projection_dim, config.num_prototypes)
        # past prototype scores of clip 0 and clip 1, side by side in one row
        self.queue = EmbeddingQueue(config.queue_size, 2 * config.num_prototypes)
        self._warned_one_step = False
        self.post_init()

    def has_idle_parameters(self) -> bool:
        return self.config.graph_start_epoch > 0  # stage 1 leaves the low / mid heads without gradient

    @property
    def graph_active(self) -> bool:
        """Second stage of the two-stage schedule: L_mul on every level."""
        return self.epoch >= self.config.graph_start_epoch

    def forward(
        self,
        clips: torch.Tensor,
        overview: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> VsslPretrainingOutput | tuple:
        config = self.config
        if clips.ndim != 6 or clips.shape[1] != 2:
            raise ValueError(f"MFO expects clips of shape (B, 2, C, T, H, W), got {tuple(clips.shape)}")
        batch = clips.shape[0]
        stage_one = not self.graph_active and config.stage_one_high_only
        retrieval = config.use_ret_loss and not stage_one
        if retrieval and overview is None:
            raise ValueError(
                "MFO timestamp retrieval (use_ret_loss=True) needs the overview clip: pass overview="
            )
        views = [clips[:, 0], clips[:, 1]] + ([overview] if retrieval else [])
        aug = config.use_aug_loss and not stage_one
        negative_clips = aug and config.temporal_negatives_from == "clips"
        if negative_clips:  # the transformed clips in the same pass (shared BN statistics)
            views += [
                temporal_transform(clips.transpose(0, 1).flatten(0, 1), kind)
                for kind in config.temporal_negatives
            ]
        output = self.backbone(torch.cat(views), output_multilevel_features=True)
        encoded = (3 if retrieval else 2) * batch
        maps = {name: m[:encoded] for name, m in zip(MULTILEVEL_NAMES, output.multilevel_features)}
        negative_maps = (
            {name: m[encoded:] for name, m in zip(MULTILEVEL_NAMES, output.multilevel_features)}
            if negative_clips
            else None
        )  # each (V*B, C, T', H', W'); negatives (n*2B, ...)
        if config.use_ret_loss:  # from the first step, not only once the graph stage starts to use it
            for feature_map in maps.values():
                check_time_steps(feature_map.shape[2])
        weights = dict(zip(MULTILEVEL_NAMES, config.level_weights))

        terms: dict[str, torch.Tensor] = {}
        metrics: dict[str, torch.Tensor] = {}
        used = ("high",) if stage_one else MULTILEVEL_NAMES
        steps = {name: self.levels[name].steps(maps[name]) for name in used}  # (V*B, T, C)

        # L_high: instance contrast between the two clips of a video, over the global batch
        high = self.levels["high"].contrast(steps["high"][: 2 * batch]).mean(dim=1)  # (2B, D)
        terms["high_nce"] = weights["high"] * self._clip_contrast(high, batch)

        # prototypes on the pooled high-level feature (swapped prediction, Sinkhorn targets + queue)
        pooled = maps["high"][: 2 * batch].mean(dim=(2, 3, 4))
        embeddings = F.normalize(self.global_projection(pooled), dim=1)
        scores = self.prototypes(embeddings).view(2, batch, -1)  # (2, B, K)
        proto_loss, assignments = self._prototype_loss(scores)
        terms["proto"] = config.proto_weight * proto_loss
        metrics["prototypes_used"] = (
            torch.bincount(assignments, minlength=config.num_prototypes).gt(0).sum().float()
        )

        if aug:
            for name in ("low", "mid"):
                negatives = None if negative_maps is None else negative_maps[name]
                loss = self._temporal_contrast(name, maps[name], steps[name], batch, negatives)
                terms[f"{name}_aug"] = weights[name] * loss
        if retrieval:
            for name in MULTILEVEL_NAMES:
                loss, accuracy = self._timestamp_retrieval(name, steps[name], batch)
                terms[f"{name}_ret"] = weights[name] * loss
                metrics[f"{name}_ret_acc"] = accuracy
        if self.graph_active:
            graph = instance_graph(
                self._instance_similarity(high, batch), assignments, config.graph_threshold
            )
            rows = graph[get_rank() * batch : (get_rank() + 1) * batch]  # this process's anchors
            metrics["graph_edges"] = (graph > 0).sum(dim=1).float().mean()
            for name in MULTILEVEL_NAMES:
                embedded = self.levels[name].graph(steps[name][: 2 * batch]).mean(dim=1)  # (2B, D)
                candidates = all_gather_with_grad(embedded[batch:])
                loss = graph_contrast_loss(embedded[:batch], candidates, rows, config.temperature)
                terms[f"{name}_graph"] = config.graph_weight * weights[name] * loss

        loss = torch.stack(list(terms.values())).sum()
        result = VsslPretrainingOutput(
            loss=loss,
            loss_terms={name: value.detach() for name, value in terms.items()},
            metrics=metrics,
            logits=scores.transpose(0, 1).detach(),
            embeddings=embeddings.view(2, batch, -1).transpose(0, 1).detach(),
        )
        return result if return_dict is not False else result.to_tuple()

    def _clip_contrast(
        self, embeddings: torch.Tensor, batch: int, extra_negatives: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Multi-positive InfoNCE: each clip's positive is the other clip of its video; negatives are
        every clip of the other videos in the global batch (and `extra_negatives`: (2B, E, D)).
        embeddings: (2B, D), clip 0 of every video then clip 1."""
        videos = get_rank() * batch + torch.arange(batch, device=embeddings.device).repeat(2)
        return group_info_nce(embeddings, videos, self.config.temperature, extra_negatives=extra_negatives)

    def _instance_similarity(self, high: torch.Tensor, batch: int) -> torch.Tensor:
        """E = row-softmax(z0 z1^T / tau) over the global batch: (N, N), no gradient."""
        with torch.no_grad():
            z = F.normalize(high.float(), dim=1)
            z0, z1 = all_gather_no_grad(z[:batch]), all_gather_no_grad(z[batch:])
            return (z0 @ z1.T / self.config.temperature).softmax(dim=1)

    def _prototype_loss(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Swapped prediction between the two clips (scores: (2, B, K)), Sinkhorn targets over the queue
        of past scores and the batch. Returns the loss and the global batch's arg-max prototype of the
        summed targets (the semantic mask of G_ins)."""
        config = self.config
        batch, num = scores.shape[1], config.num_prototypes
        use_queue = self.training and len(self.queue) > 0 and self.epoch >= config.queue_start_epoch
        queued = list(self.queue.get().view(-1, 2, num).unbind(1)) if use_queue else None
        targets = sinkhorn_targets(list(scores), config.sinkhorn_epsilon, config.sinkhorn_iterations, queued)
        if self.training:
            self.queue.enqueue(scores.detach().transpose(0, 1).reshape(batch, 2 * num))
        assignments = all_gather_no_grad((targets[0] + targets[1]).argmax(dim=1))
        return swapped_prediction_loss(list(scores), targets, config.prototype_temperature), assignments

    def _temporal_contrast(
        self,
        name: str,
        maps: torch.Tensor,
        steps: torch.Tensor,
        batch: int,
        negative_maps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """L_aug on one level: the clip contrast with the time-reversed / shuffled copies of the same
        video (both clips, every transform) as extra negatives: the transformed maps of the clips, or
        `negative_maps` (n*2B, C, T', H', W'), the maps of the transformed clips, transform-major."""
        head = self.levels[name]
        original = head.contrast(steps[: 2 * batch]).mean(dim=1)  # (2B, D)
        kinds = self.config.temporal_negatives
        if negative_maps is None and maps.shape[2] < 2 and not self._warned_one_step:
            self._warned_one_step = True
            logger.warning(
                "MFO L_aug: the %s level keeps one time step, so its reversed / shuffled maps equal the original "
                "and the negatives are copies of the anchor and its positive; use longer clips or "
                "temporal_negatives_from='clips'",
                name,
            )
        negatives = (
            [temporal_transform(maps[: 2 * batch], kind) for kind in kinds]
            if negative_maps is None
            else negative_maps.chunk(len(kinds))
        )
        transformed = torch.stack([head.contrast(head.steps(m)).mean(dim=1) for m in negatives])  # (n, 2B, D)
        per_video = transformed.view(len(self.config.temporal_negatives), 2, batch, -1)
        per_video = per_video.permute(2, 0, 1, 3).reshape(batch, -1, per_video.shape[-1])  # (B, 2n, D)
        return self._clip_contrast(original, batch, extra_negatives=per_video.repeat(2, 1, 1))

    def _timestamp_retrieval(
        self, name: str, steps: torch.Tensor, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """L_ret on one level, from the (motion-excited) per-step features of clip 0, clip 1 and the overview."""
        projected = self.levels[name].retrieval(steps).transpose(1, 2)  # (3B, D, T)
        short = projected[: 2 * batch].view(2, batch, *projected.shape[1:]).transpose(0, 1)
        return timestamp_retrieval_loss(short, projected[2 * batch :], self.config.retrieval_temperature)


__all__ = ["MFOForPretraining", "MFOLevelHead"]
