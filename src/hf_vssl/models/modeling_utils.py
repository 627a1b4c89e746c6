"""What every hf_vssl backbone shares: config fields, the output type, init, loading checks, the head.

A backbone is an ordered set of named stages (`self.stages`, an `nn.ModuleDict`); the forward pass
here runs them in order, keeps what the caller asked for and pools the last one. Each model file
only builds its stages, so every architecture reads top to bottom in its own file. `VsslBackbone`
runs the same stages for transformers' Backbone API (`AutoBackbone`, `out_features`).
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.backbone_utils import BackboneConfigMixin, BackboneMixin
from transformers.modeling_outputs import BackboneOutput, ImageClassifierOutput
from transformers.utils import ModelOutput

from ..typed_fields import coerce_fields

MULTILEVEL_NAMES = ("low", "mid", "high")
PROBE_NORM_ORDERS = ("l2_bn", "bn_l2")  # order of the probe's L2 normalisation and BatchNorm


@strict
class VsslBackboneConfig(BackboneConfigMixin, PreTrainedConfig):
    """Fields every backbone config has; subclasses add the architecture and set `multilevel_stages`.

    `pretraining` records the method a checkpoint was trained with (written by the pretraining
    models' `save_pretrained`); a random init has `None`. `out_features` / `out_indices` (transformers'
    Backbone API, keyword arguments as in `ResNetConfig`) name the stages `AutoBackbone` returns;
    default: the last stage.
    """

    in_channels: int = 3
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    # low / mid / high feature levels (MFO supp. Tables 1-2): names of stages in `stage_names`
    multilevel_stages: list[str] | tuple[str, ...] | None = None
    # classification head (finetune / linear probe)
    classifier_dropout: float = 0.5
    freeze_backbone: bool = False
    probe_batchnorm: bool = False  # ViCC/CoCLR linear probe: BatchNorm1d on the pooled feature
    probe_l2_norm: bool = False  # ViCC/CoCLR linear probe: L2-normalise before the linear layer
    # released ViCC/CoCLR model/classifier.py LinearClassifier.forward: F.normalize, then final_bn, then
    # the linear layer ("l2_bn"); "bn_l2" is BatchNorm first (this package's order before)
    probe_norm_order: str = "l2_bn"
    pretraining: dict | None = None
    width_multiplier: float = 1.0  # scales every channel count (tests and the demo use small values)

    # set by each architecture
    stage_names: ClassVar[tuple[str, ...]] = ()
    base_channels: ClassVar[tuple[int, ...]] = ()  # output channels of each stage at width 1
    default_multilevel_stages: ClassVar[tuple[str, str, str]] = ()

    def __post_init__(self, **kwargs: Any) -> None:
        inherited = {f.name for f in dataclasses.fields(PreTrainedConfig)}
        coerce_fields(self, [f.name for f in dataclasses.fields(self) if f.name not in inherited])
        if self.multilevel_stages is None:
            self.multilevel_stages = list(self.default_multilevel_stages)
        self.multilevel_stages = list(self.multilevel_stages)
        self.set_output_features_output_indices(
            out_features=kwargs.pop("out_features", None), out_indices=kwargs.pop("out_indices", None)
        )
        super().__post_init__(**kwargs)

    def verify_out_features_out_indices(self) -> None:
        """transformers' checks, after one that names the unknown stages (its own prints the whole list)."""
        if isinstance(self._out_features, list):
            unknown = [name for name in self._out_features if name not in self.stage_names]
            if unknown:
                raise ValueError(
                    f"out_features {unknown} are not stages of {self.model_type}; "
                    f"valid stage names: {list(self.stage_names)}"
                )
        super().verify_out_features_out_indices()

    def validate_in_channels(self) -> None:
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be >= 1 (3 for RGB, 2 or 3 for flow), got {self.in_channels}")

    def validate_probe_norm_order(self) -> None:
        if self.probe_norm_order not in PROBE_NORM_ORDERS:
            raise ValueError(
                f"probe_norm_order must be one of {PROBE_NORM_ORDERS}, got {self.probe_norm_order!r}"
            )

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
    multilevel_features: (low, mid, high) maps of `config.multilevel_stages` (MFO supp. Tables 1-2),
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
    # push_to_hub(model, repo_id, **kwargs): stages the repository (weights, config, remote code, video
    # processor, a card made from the model's own config) and uploads it. `hf_vssl.hub` installs it when
    # imported (models/ sits below hub/ and cannot import it); without it, transformers' push runs.
    repository_publisher: ClassVar[Callable[..., Any] | None] = None

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

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> Any:
        """transformers' `push_to_hub` (same arguments) for any hf-vssl model (backbone, pretraining
        model, classifier): with `hf_vssl.hub` imported the repository gets hf-vssl's card, processor
        config and remote code; transformers' own would replace the card by a generic one."""
        publisher = VsslPreTrainedModel.repository_publisher
        if publisher is None:
            return super().push_to_hub(repo_id, **kwargs)
        return publisher(self, repo_id, **kwargs)


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


def _statistics_updated_once(stage: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """`stage` as gradient checkpointing runs it: its first call is the forward pass; a later call is the
    recomputation during backward, after which the stage's buffers (BatchNorm running statistics and
    counts) are put back, so that they move once per step as without checkpointing, not twice."""
    calls = 0

    def run(x: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if calls == 1:
            return stage(x)
        kept = [buffer.clone() for buffer in stage.buffers()]
        try:  # a non-reentrant recomputation may stop early, by raising, once it has what backward needs
            return stage(x)
        finally:
            with torch.no_grad():
                for buffer, value in zip(stage.buffers(), kept):
                    buffer.copy_(value)

    return run


class VsslBackboneModel(VsslPreTrainedModel):
    """Runs `self.stages` in order; subclasses build the stages in `__init__` then call `post_init()`."""

    stages: nn.ModuleDict
    # a pretraining checkpoint's heads (or a classifier's head) are expected extras when the feature
    # extractor loads it: no load report for them; a missing backbone weight still raises
    _keys_to_ignore_on_load_unexpected: ClassVar[list[str]] = [r"^(?!stages\.)"]

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
        output_hidden_states = output_hidden_states or self.config.output_hidden_states
        levels_wanted = self.config.multilevel_stages if output_multilevel_features else []
        x, states = self._run_stages(
            pixel_values, keep=self.stages if output_hidden_states else levels_wanted
        )
        pooled = x.mean(dim=(2, 3, 4))
        hidden_states = tuple(states[n] for n in self.stages) if output_hidden_states else None
        levels = tuple(states[n] for n in levels_wanted) if output_multilevel_features else None
        output = VsslModelOutput(
            last_hidden_state=x, pooler_output=pooled, hidden_states=hidden_states, multilevel_features=levels
        )
        return output if return_dict is not False else output.to_tuple()

    def _run_stages(
        self, pixel_values: torch.Tensor, keep: Collection[str]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The last stage's map and the maps of the stages named in `keep`, by name."""
        if pixel_values.ndim != 5 or pixel_values.shape[1] != self.config.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects pixel_values of shape (batch, {self.config.in_channels}, frames, "
                f"height, width), got {tuple(pixel_values.shape)}; set config.in_channels for another channel count"
            )
        states: dict[str, torch.Tensor] = {}
        x = pixel_values
        for name, stage in self.stages.items():
            try:
                if self.gradient_checkpointing and self.training:
                    x = self._gradient_checkpointing_func(_statistics_updated_once(stage), x)
                else:
                    x = stage(x)
            except RuntimeError as err:
                if "size" not in str(err).lower() and "kernel" not in str(err).lower():
                    raise
                raise ValueError(
                    f"input of shape {tuple(pixel_values.shape)} is too small for {type(self).__name__}: stage "
                    f"'{name}' failed on a {tuple(x.shape)} map ({err}). Use more frames or a larger crop."
                ) from err
            if name in keep:
                states[name] = x
        return x, states

    def forward_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pooled (B, C) features: what probe, retrieval and clustering consume."""
        return self(pixel_values).pooler_output


class VsslBackbone(BackboneMixin, VsslBackboneModel):
    """transformers' Backbone API over a family's stages: `feature_maps` of `config.out_features`.

    A family's backbone is `class S3DBackbone(VsslBackbone, S3DModel)`: the family's `__init__`
    builds the stages, so the weight names (and checkpoints) are those of `AutoModel`'s model.
    """

    has_attentions = False

    def __init__(self, config: VsslBackboneConfig) -> None:
        super().__init__(config)
        self.num_features = [config.stage_channels[name] for name in config.stage_names]

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> BackboneOutput | tuple:
        """pixel_values: (B, C, T, H, W) -> `feature_maps`, one (B, C_i, T_i, H_i, W_i) map per out feature."""
        output_hidden_states = output_hidden_states or self.config.output_hidden_states
        _, states = self._run_stages(
            pixel_values, keep=self.stage_names if output_hidden_states else self.out_features
        )
        output = BackboneOutput(
            feature_maps=tuple(states[name] for name in self.out_features),
            hidden_states=tuple(states[name] for name in self.stage_names) if output_hidden_states else None,
        )
        return output if return_dict is not False else output.to_tuple()


class VsslForVideoClassification(VsslPreTrainedModel):
    """Backbone + (optional L2 / BN of the probe) + dropout + linear, for finetune and linear probe.

    With `config.freeze_backbone` the backbone gets no gradient and stays in eval mode (its BN
    statistics stay those of pretraining), which is the linear-probe protocol of every paper.
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

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pooled features (B, D) -> logits (B, num_labels), or with `pre_logits` the (B, D) input of
        the linear layer (after the probe's L2 / BN, in `config.probe_norm_order`, and dropout). The
        linear probe trains this part alone on cached features."""
        bn_first = self.config.probe_norm_order == "bn_l2"
        if self.probe_bn is not None and bn_first:
            features = self.probe_bn(features)
        if self.config.probe_l2_norm:
            features = F.normalize(features, dim=1)
        if self.probe_bn is not None and not bn_first:
            features = self.probe_bn(features)
        features = self.dropout(features)
        return features if pre_logits else self.classifier(features)

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
        """pixel_values: (B, C, T, H, W); labels: (B,) class indices, (B, num_labels) floats for
        multi-label, or (B,) / (B, num_labels) targets for regression, as `config.problem_type` says
        (inferred from `num_labels` and the labels' dtype when unset, as in transformers' classifiers)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_backbone):
            out = self.backbone(pixel_values, output_hidden_states=output_hidden_states)
        logits = self.forward_head(out.pooler_output)
        loss = self.loss_function(labels, logits, self.config, **kwargs) if labels is not None else None
        output = ImageClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
        return output if return_dict is not False else output.to_tuple()
