"""ViCC pretraining: cross-stream prototypical contrasting (Toering et al., WACV 2022; docs/METHODS.md#vicc).

Each stream is an encoder (backbone -> global average pool -> 1x1x1 conv -> ReLU -> 1x1x1 conv to
128, L2-normalised). Stage 1 trains one stream by swapped prediction between its two clips. Stage 2
adds the other stream, frozen (eval mode, no gradient), as `second`: both streams' embeddings are
scored against the trained stream's prototypes and each of the four views' Sinkhorn assignment is
predicted from the other three (ViCC supp.'s pseudocode). The alternation RGB -> flow -> RGB -> flow is
a schedule of training runs (`cross_stream_schedule`, `ViCCForPretraining.for_round`), each round
starting from the previous rounds' checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig

from ...nn.distributed import batch_shuffle, batch_unshuffle
from ...nn.prototypes import EmbeddingQueue, Prototypes
from ...nn.swapped import sinkhorn_targets, swapped_prediction_loss
from ..modeling_pretraining import VsslForPretraining, VsslPretrainingOutput
from .configuration_vicc import STREAMS, ViCCConfig


class ViCCProjection(nn.Sequential):
    """Pooled features (B, F) -> (B, D): the released `encoder_q.2` (1x1x1 conv F->F), ReLU and
    `encoder_q.4` (1x1x1 conv F->D), kept as convs so converted checkpoints map one to one."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(nn.Conv3d(in_dim, in_dim, 1), nn.ReLU(inplace=True), nn.Conv3d(in_dim, out_dim, 1))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return super().forward(pooled[:, :, None, None, None]).flatten(1)


def _embed(backbone: nn.Module, projection: ViCCProjection, pixel_values: torch.Tensor) -> torch.Tensor:
    """pixel_values: (B, C, T, H, W) -> unit-length embeddings (B, D)."""
    return F.normalize(projection(backbone(pixel_values).pooler_output), dim=1)


class ViCCFrozenStream(nn.Module):
    """The other stream of stage 2 (the released `second.*`): backbone + projection, never trained."""

    def __init__(self, backbone_config: PreTrainedConfig, projection_dim: int) -> None:
        super().__init__()
        self.backbone = AutoModel.from_config(backbone_config)
        self.projection = ViCCProjection(backbone_config.hidden_size, projection_dim)
        self.requires_grad_(False)

    @torch.no_grad()
    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return _embed(self.backbone, self.projection, pixel_values)


class ViCCForPretraining(VsslForPretraining):
    """ViCC stage 1 or one stage-2 round, training `config.stream`.

    forward(rgb: (B, 2, 3, T, H, W), flow: (B, 2, C_flow, T, H, W)): the two clips of each video
    (same frame indices and crop for both streams); only the streams of `config.streams` are needed.
    Returns the swapped-prediction loss, the prototype scores of the first clip as `logits` and its
    embedding as `embeddings`.
    """

    config_class = ViCCConfig

    def __init__(self, config: ViCCConfig) -> None:
        super().__init__(config)
        self.projection = ViCCProjection(config.backbone_config.hidden_size, config.projection_dim)
        self.prototypes = Prototypes(config.projection_dim, config.num_prototypes)
        # one row per video: the embeddings of all its views, re-scored with the current prototypes
        self.queue = EmbeddingQueue(config.queue_size, config.num_views * config.projection_dim)
        self.second = (
            ViCCFrozenStream(config.frozen_backbone_config(), config.projection_dim)
            if config.cross_stream
            else None
        )
        self.post_init()

    # ----- train mode: the frozen stream stays in eval -----

    def train(self, mode: bool = True) -> ViCCForPretraining:
        super().train(mode)
        if self.second is not None:
            self.second.eval()  # the frozen stream keeps its stage-1 BatchNorm statistics
            self.second.requires_grad_(False)
        return self

    # ----- encoders -----

    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Trained stream: (B, C, T, H, W) -> unit-length embeddings (B, projection_dim)."""
        return _embed(self.backbone, self.projection, pixel_values)

    def prototype_scores(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> cosine scores against the prototypes (B, num_prototypes)."""
        return self.prototypes(self.embed(pixel_values))

    def _embed_second_clip(self, clips: torch.Tensor) -> torch.Tensor:
        if not self.config.second_clip_no_grad:
            return self.embed(clips)
        with torch.no_grad():
            if not self.config.batch_shuffle:
                return self.embed(clips)
            shuffled, inverse = batch_shuffle(clips)
            return batch_unshuffle(self.embed(shuffled), inverse)

    def forward(
        self,
        rgb: torch.Tensor | None = None,
        flow: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> VsslPretrainingOutput | tuple:
        config = self.config
        inputs = {"rgb": rgb, "flow": flow}
        for stream in config.streams:
            clips = inputs[stream]
            channels = config.stream_channels(stream)
            if clips is None or clips.ndim != 6 or clips.shape[1] != 2 or clips.shape[2] != channels:
                found = None if clips is None else tuple(clips.shape)
                raise ValueError(
                    f"ViCC ({'cross-stream' if config.cross_stream else 'single-stream'} {config.stream}) needs "
                    f"{stream} of shape (B, 2, {channels}, T, H, W): two clips per video, got {found}"
                )
        trained = inputs[config.stream]
        embeddings = [self.embed(trained[:, 0]), self._embed_second_clip(trained[:, 1])]  # 2 x (B, D)
        if self.second is not None:
            other = inputs[config.other_stream]
            embeddings += [self.second.embed(other[:, 0]), self.second.embed(other[:, 1])]
        scores = [self.prototypes(z) for z in embeddings]  # V x (B, K), all against the trained prototypes
        targets = self._assignments(embeddings, scores)
        loss = swapped_prediction_loss(scores, targets, config.temperature)
        metrics = {
            "prototypes_used": torch.tensor(
                float(torch.stack(targets).argmax(dim=-1).unique().numel()), device=loss.device
            ),
            "queue_rows": torch.tensor(float(len(self.queue)), device=loss.device),
        }
        output = VsslPretrainingOutput(
            loss=loss,
            loss_terms={"swapped": loss.detach()},
            metrics=metrics,
            logits=scores[0].detach(),
            embeddings=embeddings[0].detach(),
        )
        return output if return_dict is not False else output.to_tuple()

    @torch.no_grad()
    def _assignments(self, embeddings: list[torch.Tensor], scores: list[torch.Tensor]) -> list[torch.Tensor]:
        """Sinkhorn targets of every view; from `queue_start_epoch` the queue is filled with this batch's
        embeddings, and once full its rows (re-scored by the current prototypes) join the balance."""
        config = self.config
        use_queue = self.training and config.queue_size > 0 and self.epoch >= config.queue_start_epoch
        queued = None
        if use_queue and self.queue.is_full:
            past = self.queue.get().view(-1, len(embeddings), config.projection_dim)  # (Q, V, D)
            queued = [
                self.prototypes(past[:, view].to(scores[view].dtype)) for view in range(len(embeddings))
            ]
        targets = sinkhorn_targets(scores, config.sinkhorn_epsilon, config.sinkhorn_iterations, queued)
        if use_queue:
            self.queue.enqueue(torch.cat(embeddings, dim=1))
        return targets

    # ----- stage 2: loading the streams of earlier stages -----

    def load_trained_stream(self, checkpoint: str | Path) -> None:
        """Start this round from a checkpoint of the same stream: backbone, projection and prototypes
        (the queue is always re-filled, as the released code does)."""
        source = self._load_vicc(checkpoint, self.config.stream)
        for name in ("backbone", "projection", "prototypes"):
            self._copy(getattr(source, name), getattr(self, name), checkpoint, name)

    def load_frozen_stream(self, checkpoint: str | Path) -> None:
        """Load the frozen stream (backbone + projection) from a ViCC checkpoint of the other stream
        (stage 1, or the previous cross-stream round)."""
        if self.second is None:
            raise ValueError("load_frozen_stream needs a cross-stream config (cross_stream=True)")
        source = self._load_vicc(checkpoint, self.config.other_stream)
        for name in ("backbone", "projection"):
            self._copy(getattr(source, name), getattr(self.second, name), checkpoint, name)

    @staticmethod
    def _load_vicc(checkpoint: str | Path, stream: str) -> ViCCForPretraining:
        source = ViCCForPretraining.from_pretrained(checkpoint)
        if source.config.stream != stream:
            raise ValueError(
                f"{checkpoint} trained the '{source.config.stream}' stream; this needs a '{stream}' one"
            )
        return source

    @staticmethod
    def _copy(source: nn.Module, target: nn.Module, checkpoint: str | Path, name: str) -> None:
        try:
            target.load_state_dict(source.state_dict())
        except RuntimeError as err:
            raise ValueError(
                f"the {name} of {checkpoint} does not fit this model (another backbone, width or channel count): {err}"
            ) from err

    @classmethod
    def for_round(cls, spec: CrossStreamRound, **config_overrides: Any) -> ViCCForPretraining:
        """The model of one cross-stream round: the hyper-parameters and architecture of the trained
        stream's previous checkpoint (stage-dependent defaults reset to stage 2's), its weights, and
        the frozen stream from the other stream's latest checkpoint."""
        previous = ViCCConfig.from_checkpoint_config(
            AutoConfig.from_pretrained(spec.init_from), spec.init_from
        )
        record = {
            k: v
            for k, v in previous.pretraining_record().items()
            if k not in ("method", *ViCCConfig.stage_fields)
        }
        record.update(stream=spec.stream, cross_stream=True, **config_overrides)
        model = cls(ViCCConfig(backbone_config=previous.backbone_config.to_dict(), **record))
        model.load_trained_stream(spec.init_from)
        model.load_frozen_stream(spec.frozen_from)
        return model


@dataclass(frozen=True)
class CrossStreamRound:
    """One alternation of stage 2: train `stream` from `init_from` with the other stream frozen from
    `frozen_from`; write the run to `output_dir`, whose exported model is `checkpoint`."""

    index: int
    stream: str
    init_from: Path
    frozen_from: Path
    output_dir: Path

    @property
    def checkpoint(self) -> Path:
        return self.output_dir / "model"  # where `hf_vssl.training.pretrain` exports the final model


def cross_stream_schedule(
    rgb_checkpoint: str | Path,
    flow_checkpoint: str | Path,
    output_dir: str | Path,
    rounds: int = 4,
    first: str = "rgb",
) -> list[CrossStreamRound]:
    """ViCC supp.'s alternation (RGB -> flow -> RGB -> flow for 4 rounds): each round starts the trained
    stream from its latest checkpoint and freezes the other stream's latest checkpoint."""
    if rounds < 1 or first not in STREAMS:
        raise ValueError(f"need rounds >= 1 and first in {STREAMS}, got {rounds}, {first!r}")
    latest = {"rgb": Path(rgb_checkpoint), "flow": Path(flow_checkpoint)}
    schedule = []
    stream = first
    for index in range(1, rounds + 1):
        other = "flow" if stream == "rgb" else "rgb"
        round_ = CrossStreamRound(
            index, stream, latest[stream], latest[other], Path(output_dir) / f"round{index}-{stream}"
        )
        schedule.append(round_)
        latest[stream] = round_.checkpoint
        stream = other
    return schedule


__all__ = [
    "CrossStreamRound",
    "ViCCForPretraining",
    "ViCCFrozenStream",
    "ViCCProjection",
    "cross_stream_schedule",
]
