"""SDC pretraining: static and dynamic concepts (Qian et al., ECCV 2022; docs/METHODS.md#sdc).

Six views of a video go through the encoder: two consecutive clips v, their static-frame views s and
their frame differences d. Each view's transformed feature is scored against K_s static + K_d dynamic
concept prototypes. Static codes are aligned over {v, s}, dynamic codes over {v, d} (swapped
prediction with Sinkhorn targets and a queue of past scores); static codes of d and dynamic codes of
s are pushed to uniform (entropy term); decoders rebuild each view's feature from its codes;
cross-view InfoNCE ties v1-v2, v-s and v-d; from `local_start_epoch` the concepts valid in both clips
are matched locally (L_loc).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel

from ...nn.contrastive import global_info_nce
from ...nn.prototypes import EmbeddingQueue, Prototypes
from ...nn.swapped import sinkhorn_targets, swapped_prediction_loss
from ..modeling_pretraining import VsslForPretraining, VsslPretrainingOutput
from .concepts import code_decoder, negative_entropy, transform_head
from .configuration_sdc import SDCConfig
from .local_matching import ConceptAttention, local_matching_loss, top_k_intersection

VIEW_TYPES = ("clip", "static", "difference")  # v, s, d


def _nce_head(dim: int, out_dim: int) -> nn.Sequential:
    """Projection for the cross-view InfoNCE (released model.py: 512-512-128 MLP)."""
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, out_dim))


class SDCForPretraining(VsslForPretraining):
    """SDC on any backbone (R(2+1)D-18 by default).

    forward(clips, static_clips, difference_clips), each (B, 2, C, T, H, W): v1/v2, s1/s2, d1/d2.
    """

    config_class = SDCConfig

    def __init__(self, config: SDCConfig) -> None:
        super().__init__(config)
        dim = config.backbone_config.hidden_size
        if config.separate_encoders:  # SDC supp. Table 5, "Separate"
            self.static_backbone = AutoModel.from_config(config.backbone_config)
            self.difference_backbone = AutoModel.from_config(config.backbone_config)
        self.transforms = nn.ModuleDict(
            {view: transform_head(config.transform_head, dim) for view in VIEW_TYPES}
        )
        # one concept matrix per view type (released model.py), each K_s static rows then K_d dynamic rows
        self.concepts = nn.ModuleDict({view: Prototypes(dim, config.num_concepts) for view in VIEW_TYPES})
        hidden = config.decoder_hidden_dims
        self.decoders = nn.ModuleDict(
            {
                "clip": code_decoder(config.num_concepts, hidden, dim),
                "static": code_decoder(config.num_static_concepts, hidden, dim),
                "difference": code_decoder(config.num_dynamic_concepts, hidden, dim),
            }
        )
        # InfoNCE projections: "clip_to_static" embeds v for the v-s pair, "static" embeds s, and so on
        self.nce_heads = nn.ModuleDict(
            {
                name: _nce_head(dim, config.nce_dim)
                for name in ("clip", "clip_to_static", "clip_to_difference", "static", "difference")
            }
        )
        self.concept_attention = ConceptAttention(dim, dim, config.local_attention_iterations)
        # past concept scores of the six views, side by side in one row
        self.queue = EmbeddingQueue(config.queue_size, 6 * config.num_concepts)
        self.post_init()

    def has_idle_parameters(self) -> bool:
        return self.config.local_start_epoch > 0  # before L_loc starts, the concept attention is idle

    @property
    def local_active(self) -> bool:
        return self.epoch >= self.config.local_start_epoch

    def encode(
        self, views: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """views: type -> (B, 2, C, T, H, W). Returns pooled features type -> (2B, F) and last-stage maps
        type -> (2B, F, T', H', W'), rows clip-major (view 1 of every video, then view 2)."""
        batch = views["clip"].shape[0]
        flat = {view: torch.cat([x[:, 0], x[:, 1]]) for view, x in views.items()}
        if self.config.separate_encoders:
            encoders = {
                "clip": self.backbone,
                "static": self.static_backbone,
                "difference": self.difference_backbone,
            }
            outputs = {view: encoders[view](flat[view]) for view in VIEW_TYPES}
            pooled = {view: out.pooler_output for view, out in outputs.items()}
            maps = {view: out.last_hidden_state for view, out in outputs.items()}
        else:  # one pass, shared BN statistics, as in the released code
            out = self.backbone(torch.cat([flat[view] for view in VIEW_TYPES]))
            pooled = dict(zip(VIEW_TYPES, out.pooler_output.split(2 * batch)))
            maps = dict(zip(VIEW_TYPES, out.last_hidden_state.split(2 * batch)))
        return pooled, maps

    def forward(
        self,
        clips: torch.Tensor,
        static_clips: torch.Tensor,
        difference_clips: torch.Tensor,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> VsslPretrainingOutput | tuple:
        config = self.config
        views = {"clip": clips, "static": static_clips, "difference": difference_clips}
        for name, x in views.items():
            if x.ndim != 6 or x.shape[1] != 2 or x.shape[0] != clips.shape[0]:
                raise ValueError(f"SDC expects {name} of shape (B, 2, C, T, H, W), got {tuple(x.shape)}")
        batch, k_s = clips.shape[0], config.num_static_concepts
        pooled, maps = self.encode(views)
        scores = {
            view: self.concepts[view](F.normalize(self.transforms[view](pooled[view]), dim=1)).view(
                2, batch, -1
            )
            for view in VIEW_TYPES
        }  # type -> (2, B, K_s + K_d)
        terms: dict[str, torch.Tensor] = {}

        # concept alignment: static codes over {v, s}, dynamic codes over {v, d}
        static, dynamic = slice(None, k_s), slice(k_s, None)
        terms["align_static"] = config.alignment_weight * self._alignment(scores, ("clip", "static"), static)
        terms["align_dynamic"] = config.alignment_weight * self._alignment(
            scores, ("clip", "difference"), dynamic
        )
        # no static concept in a frame difference, no dynamic concept in a static frame
        terms["entropy_static"] = config.entropy_weight * negative_entropy(
            scores["difference"][..., static].flatten(0, 1), config.concept_temperature
        )
        terms["entropy_dynamic"] = config.entropy_weight * negative_entropy(
            scores["static"][..., dynamic].flatten(0, 1), config.concept_temperature
        )

        # reconstruction of each view's feature from its codes
        own_codes = self._own_codes(scores)
        for view in VIEW_TYPES:
            rebuilt = self.decoders[view](own_codes[view].flatten(0, 1))
            cosine = F.cosine_similarity(rebuilt.float(), pooled[view].detach().float(), dim=1)
            terms[f"reconstruction_{view}"] = -config.reconstruction_weight * cosine.mean()

        # cross-view InfoNCE: v1-v2, v-s and v-d of the other clip
        terms.update(self._cross_view_nce(pooled, batch))

        # local concept matching (valid concepts are counted every step for the "Avg" of SDC supp. Table 3)
        metrics: dict[str, torch.Tensor] = {}
        templates = self._templates()
        valid_counts = []
        for view in VIEW_TYPES:
            view_codes = own_codes[view].transpose(0, 1)  # (B, 2, K')
            if self.local_active:
                descriptors = self.concept_attention(maps[view], templates[view])  # (2B, K', F)
                descriptors = descriptors.view(2, batch, *descriptors.shape[1:]).transpose(0, 1)
                loss, valid = local_matching_loss(descriptors, view_codes, config.top_k, config.local_margin)
                terms[f"local_{view}"] = config.local_weight * loss
            else:
                valid = (
                    top_k_intersection(view_codes[:, 0], view_codes[:, 1], config.top_k).sum(dim=1).float()
                )
            metrics[f"valid_concepts_{view}"] = valid.mean()
            valid_counts.append(valid.mean())
        metrics["valid_concepts"] = torch.stack(valid_counts).mean()

        if self.training:
            self.queue.enqueue(
                torch.cat([scores[view] for view in VIEW_TYPES]).detach().transpose(0, 1).flatten(1)
            )
        loss = torch.stack(list(terms.values())).sum()
        result = VsslPretrainingOutput(
            loss=loss,
            loss_terms={name: value.detach() for name, value in terms.items()},
            metrics=metrics,
            logits=scores["clip"].transpose(0, 1).detach(),
            embeddings=pooled["clip"].view(2, batch, -1).transpose(0, 1).detach(),
        )
        return result if return_dict is not False else result.to_tuple()

    def _own_codes(self, scores: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The codes each view should carry: all of v's, the static ones of s, the dynamic ones of d."""
        k_s = self.config.num_static_concepts
        return {
            "clip": scores["clip"],
            "static": scores["static"][..., :k_s],
            "difference": scores["difference"][..., k_s:],
        }

    def _templates(self) -> dict[str, torch.Tensor]:
        """Concept prototypes used as L_loc templates, matching `_own_codes`."""
        k_s = self.config.num_static_concepts
        return {
            "clip": self.concepts["clip"].weight,
            "static": self.concepts["static"].weight[:k_s],
            "difference": self.concepts["difference"].weight[k_s:],
        }

    def _alignment(
        self, scores: dict[str, torch.Tensor], members: tuple[str, str], part: slice
    ) -> torch.Tensor:
        """Swapped prediction among the four views of `members` (two clips each) on the concept columns
        `part`; each view's Sinkhorn target is balanced over [its queue of past scores; the batch]."""
        config = self.config
        current = [clip_scores[:, part] for view in members for clip_scores in scores[view]]  # 4 x (B, K')
        queued = None
        if self.training and len(self.queue) > 0 and self.epoch >= config.queue_start_epoch:
            past = self.queue.get().view(-1, len(VIEW_TYPES), 2, config.num_concepts)  # (Q, type, clip, K)
            queued = [past[:, VIEW_TYPES.index(view), i, part] for view in members for i in range(2)]
        targets = sinkhorn_targets(current, config.sinkhorn_epsilon, config.sinkhorn_iterations, queued)
        return swapped_prediction_loss(current, targets, config.concept_temperature)

    def _cross_view_nce(self, pooled: dict[str, torch.Tensor], batch: int) -> dict[str, torch.Tensor]:
        """Symmetric InfoNCE per pair, summed over pairs: I_vv (v1, v2), I_vs (v1, s2) + (v2, s1),
        I_vd (v1, d2) + (v2, d1); the released train.py's sums, keys detached as its `contrast`
        unless `nce_detach_keys=False`."""
        config = self.config

        def embed(head: str, view: str) -> tuple[torch.Tensor, torch.Tensor]:
            z = self.nce_heads[head](pooled[view])
            return z[:batch], z[batch:]

        def one_way(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
            return global_info_nce(
                query, key, config.nce_temperature, detach_candidates=config.nce_detach_keys
            )

        def symmetric(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return (one_way(a, b) + one_way(b, a)) / 2

        v1, v2 = embed("clip", "clip")
        terms = {"nce_clip_clip": symmetric(v1, v2)}
        for other in ("static", "difference"):
            c1, c2 = embed(f"clip_to_{other}", "clip")
            o1, o2 = embed(other, other)
            terms[f"nce_clip_{other}"] = symmetric(c1, o2) + symmetric(c2, o1)
        return {name: config.nce_weight * value for name, value in terms.items()}


__all__ = ["SDCForPretraining"]
