"""What every hf_vssl backbone shares: config fields, the output type, init, loading checks, the head.

A backbone is an ordered set of named stages (`self.stages`, an `nn.ModuleDict`); the forward pass
here runs them in order, keeps what the caller asked for and pools the last one. Each model file
only builds its stages, so every architecture reads top to bottom in its own file.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.utils import ModelOutput

MULTILEVEL_NAMES = ("low", "mid", "high")


@strict
class VsslBackboneConfig(PreTrainedConfig):
    """Fields every backbone config has; subclasses add the architecture and set `multilevel_stages`.

    `pretraining` records the method a checkpoint was trained with (written by the pretraining
    models' `save_pretrained`); a random init has `None`.
    """

    in_channels: int = 3
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    # low / mid / high feature levels (seed 001 tables 1-2): names of stages in `stage_names`
    multilevel_stages: list[str] | tuple[str, ...] | None = None
    # classification head (finetune / linear probe)
    classifier_dropout: float = 0.5
    freeze_backbone: bool = False
    probe_batchnorm: bool = False  # ViCC/CoCLR linear probe: BatchNorm1d on the pooled feature
    probe_l2_norm: bool = False  # ViCC/CoCLR linear probe: L2-normalise before the linear layer
    pretraining: dict | None = None
    width_multiplier: float = 1.0  # scales every channel count (tests and the demo use small values)

    # set by each architecture
    stage_names: ClassVar[tuple[str, ...]] = ()
    base_channels: ClassVar[tuple[int, ...]] = ()  # output channels of each stage at width 1
    default_multilevel_stages: ClassVar[tuple[str, str, str]] = ()

    def __post_init__(self, **kwargs: Any) -> None:
        if self.multilevel_stages is None:
            self.multilevel_stages = list(self.default_multilevel_stages)
        self.multilevel_stages = list(self.multilevel_stages)
        super().__post_init__(**kwargs)

    def validate_in_channels(self) -> None:
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be >= 1 (3 for RGB, 2 or 3 for flow), got {self.in_channels}")

    def validate_classifier_dropout(self) -> None:
        if not 0.0 <= self.classifier_dropout < 1.0:
            raise ValueError(f"classifier_dropout must be in [0, 1), got {self.classifier_dropout}")

    def validate_width_multiplier(self) -> None:
        if not (math.isfinite(self.width_multiplier) and self.width_multiplier > 0):
            raise ValueError(f"width_multiplier must be a positive number, got {self.width_multiplier}")

    def scaled_channels(self, channels: int) -> int:
        """`channels` times `width_multiplier`, rounded half up, at least 1."""
        return max(1, math.floor(channels * self.width_multiplier + 0.5))

    def validate_multilevel_stages(self) -> None:
        if self.multilevel_stages and (
            len(self.multilevel_stages) != 3 or any(s not in self.stage_names for s in self.multilevel_stages)
        ):
            raise ValueError(
                f"multilevel_stages must name 3 stages (low, mid, high) of {list(self.stage_names)}, "
                f"got {self.multilevel_stages}"
            )

    @property
    def stage_channels(self) -> dict[str, int]:
        """Output channels of every stage, by name: `base_channels` scaled, unless an architecture
        computes its own (S3D's concatenated branches)."""
        return {name: self.scaled_channels(base) for name, base in zip(self.stage_names, self.base_channels)}

    @property
    def hidden_size(self) -> int:
        """Channels of the last stage = size of `pooler_output`."""
        return self.stage_channels[self.stage_names[-1]]

    @property
    def multilevel_channels(self) -> tuple[int, int, int]:
        """Channels of the low / mid / high features."""
        channels = self.stage_channels
        return tuple(channels[name] for name in self.multilevel_stages)


@dataclass
class VsslModelOutput(ModelOutput):
    """Backbone output.

    last_hidden_state: (B, C, T', H', W') of the last stage.
    pooler_output: (B, C), global average over time and space.
    hidden_states: every stage's output, in `config.stage_names` order (`output_hidden_states=True`).
    multilevel_features: (low, mid, high) maps of `config.multilevel_stages` (seed 001 tables 1-2),
        returned with `output_multilevel_features=True`.
    """

    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    multilevel_features: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None


class VsslPreTrainedModel(PreTrainedModel):
    """Base of every hf_vssl model: 3D-CNN init, and loading that refuses the wrong architecture."""

    base_model_prefix = "backbone"
    main_input_name = "pixel_values"
    input_modalities = ("video",)
    supports_gradient_checkpointing = True

    def _init_weights(self, module: nn.Module) -> None:
        # 3D CNNs train from kaiming fan-out convs and unit BN, not transformers' normal(0.02)
        if isinstance(module, (nn.Conv3d, nn.Conv2d, nn.Conv1d)):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            if module.weight is not None:
                init.ones_(module.weight)
                init.zeros_(module.bias)
            if module.running_mean is not None:
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.Linear):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight.shape[1])
                init.uniform_(module.bias, -bound, bound)
        # modules with state of their own (prototypes, queues) initialise it here, with
        # `transformers.initialization` functions so that weights read from a checkpoint are kept
        init_own = getattr(module, "_init_vssl_weights", None)
        if init_own is not None:
            init_own()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *args: Any, **kwargs: Any):
        """`PreTrainedModel.from_pretrained`, but a checkpoint of another architecture is an error.

        transformers only warns when the config's model_type differs and then initialises every
        weight at random; for a feature extractor that silent failure is the worst outcome.
        """
        config = kwargs.get("config")
        if isinstance(config, PreTrainedConfig):
            found = config.model_type
        else:  # read the raw dict first: another family's fields would fail this config's validators
            config_dict, _ = cls.config_class.get_config_dict(
                pretrained_model_name_or_path, **_hub_kwargs(kwargs)
            )
            found = config_dict.get("model_type")
        expected = cls.config_class.model_type
        if expected and found != expected:
            raise ValueError(
                f"{pretrained_model_name_or_path} holds a '{found}' checkpoint, which cannot load "
                f"into {cls.__name__} ('{expected}'). Use AutoModel.from_pretrained, or the class for "
                f"'{found}'."
            )
        # without an explicit config, transformers reads it and applies overrides such as num_labels
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(
            pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs
        )
        missing = [k for k in info["missing_keys"] if not k.startswith(cls._newly_initialised_prefixes())]
        if missing:
            raise ValueError(
                f"{pretrained_model_name_or_path} does not match {cls.__name__}: {len(missing)} weights are "
                f"missing from the checkpoint (first: {sorted(missing)[:5]}). It was saved from a different "
                "architecture or configuration; convert it with `hf-vssl convert` or load the matching class."
            )
        return (model, info) if want_info else model

    @classmethod
    def _newly_initialised_prefixes(cls) -> tuple[str, ...]:
        """Weight-name prefixes that may be absent from a checkpoint (a new head); none for a backbone."""
        return ()

    def push_to_hub(self, repo_id: str, **kwargs: Any):
        """Upload as a zoo repository (safetensors, config with `auto_map` + code, video processor config,
        the zoo preset's card): `hf_vssl.hub.push.push_model`, not transformers' bare upload."""
        try:  # absolute and optional: the Hub's remote-code copy of this file runs without hf-vssl
            from hf_vssl.hub.push import push_model
        except ImportError:
            return super().push_to_hub(repo_id, **kwargs)
        return push_model(self, repo_id, **kwargs)


def _hub_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    keys = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder")
    return {k: kwargs[k] for k in keys if k in kwargs}


def check_finite_weights(module: nn.Module, name: str) -> None:
    """Refuse a model with NaN or infinite weights or statistics (a diverged run): saving,
    publishing or evaluating it would only spread meaningless numbers."""
    tensors = [*module.named_parameters(), *module.named_buffers()]
    bad = [key for key, tensor in tensors if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ValueError(
            f"{name} has non-finite values in {len(bad)} tensor(s) ({shown}): the training diverged; "
            "retrain (lower learning rate) or use an earlier checkpoint"
        )


def residual_layers(
    config: VsslBackboneConfig, block: Callable[..., nn.Module], in_channels: int
) -> OrderedDict[str, nn.Sequential]:
    """layer1..layer4 of a 3D ResNet (R3D, R(2+1)D): `config.block_counts` blocks each, the first
    block of layer2..4 striding by 2; block(config, in_channels, out_channels, stride)."""
    channels = config.stage_channels
    layers: OrderedDict[str, nn.Sequential] = OrderedDict()
    for index, num_blocks in enumerate(config.block_counts, start=1):
        name = f"layer{index}"
        blocks = []
        for block_index in range(num_blocks):
            stride = 2 if index > 1 and block_index == 0 else 1
            blocks.append(block(config, in_channels, channels[name], stride))
            in_channels = channels[name]
        layers[name] = nn.Sequential(*blocks)
    return layers


class VsslBackboneModel(VsslPreTrainedModel):
    """Runs `self.stages` in order; subclasses build the stages in `__init__` then call `post_init()`."""

    stages: nn.ModuleDict

    def __init__(self, config: VsslBackboneConfig) -> None:
        super().__init__(config)
        self.gradient_checkpointing = False  # switched by `gradient_checkpointing_enable()`

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        output_multilevel_features: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> VsslModelOutput | tuple:
        """pixel_values: (B, C, T, H, W) float clips."""
        if pixel_values.ndim != 5 or pixel_values.shape[1] != self.config.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects pixel_values of shape (batch, {self.config.in_channels}, frames, "
                f"height, width), got {tuple(pixel_values.shape)}; set config.in_channels for another channel count"
            )
        output_hidden_states = output_hidden_states or self.config.output_hidden_states
        wanted_levels = set(self.config.multilevel_stages) if output_multilevel_features else set()
        states: dict[str, torch.Tensor] = {}
        x = pixel_values
        for name, stage in self.stages.items():
            try:
                if self.gradient_checkpointing and self.training:
                    x = self._gradient_checkpointing_func(stage.__call__, x)
                else:
                    x = stage(x)
            except RuntimeError as err:
                if "size" not in str(err).lower() and "kernel" not in str(err).lower():
                    raise
                raise ValueError(
                    f"input of shape {tuple(pixel_values.shape)} is too small for {type(self).__name__}: stage "
                    f"'{name}' failed on a {tuple(x.shape)} map ({err}). Use more frames or a larger crop."
                ) from err
            if output_hidden_states or name in wanted_levels:
                states[name] = x
        pooled = x.mean(dim=(2, 3, 4))
        hidden_states = tuple(states[n] for n in self.stages) if output_hidden_states else None
        levels = (
            tuple(states[n] for n in self.config.multilevel_stages) if output_multilevel_features else None
        )
        output = VsslModelOutput(
            last_hidden_state=x, pooler_output=pooled, hidden_states=hidden_states, multilevel_features=levels
        )
        return output if return_dict is not False else output.to_tuple()

    def forward_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pooled (B, C) features: what probe, retrieval and clustering consume."""
        return self(pixel_values).pooler_output


class VsslForVideoClassification(VsslPreTrainedModel):
    """Backbone + (optional BN / L2 of the probe) + dropout + linear, for finetune and linear probe.

    With `config.freeze_backbone` the backbone gets no gradient and stays in eval mode (its BN
    statistics stay those of pretraining), which is the linear-probe protocol of every seed.
    """

    backbone_class: ClassVar[type[VsslBackboneModel]]

    def __init__(self, config: VsslBackboneConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.backbone = self.backbone_class(config)
        hidden = config.hidden_size
        self.probe_bn = nn.BatchNorm1d(hidden) if config.probe_batchnorm else None
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(hidden, config.num_labels)
        if config.freeze_backbone:
            self.backbone.requires_grad_(False)
        self.post_init()

    @classmethod
    def _newly_initialised_prefixes(cls) -> tuple[str, ...]:
        return ("classifier.", "probe_bn.")

    def train(self, mode: bool = True) -> VsslForVideoClassification:
        super().train(mode)
        if self.config.freeze_backbone:
            self.backbone.eval()
        return self

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> ImageClassifierOutput | tuple:
        """pixel_values: (B, C, T, H, W); labels: (B,) class indices."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_backbone):
            out = self.backbone(pixel_values, output_hidden_states=output_hidden_states)
        features = out.pooler_output
        if self.probe_bn is not None:
            features = self.probe_bn(features)
        if self.config.probe_l2_norm:
            features = F.normalize(features, dim=1)
        logits = self.classifier(self.dropout(features))
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        output = ImageClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
        return output if return_dict is not False else output.to_tuple()
