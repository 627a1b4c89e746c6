"""What every pretext method shares: its config nests a backbone config, its checkpoint is a backbone.

On disk a pretraining checkpoint is the backbone's own `config.json` with a `pretraining` record
(the method and all its fields), beside one safetensors file holding `backbone.*` and the method's
heads, prototypes and queues. So `AutoModel.from_pretrained(dir)` gives the plain feature extractor
(the extra weights are reported as unused), while `<Method>ForPretraining.from_pretrained(dir)`
rebuilds the method config from the record and restores everything.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, AutoModel, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec
from transformers.utils import ModelOutput

from ..data.augment import check_crop_fits
from ..models.modeling_utils import VsslBackboneConfig, VsslPreTrainedModel, _hub_kwargs
from ..nn.prototypes import Prototypes

PRETRAINING_KEY = "pretraining"


@strict
class VsslPretrainingConfig(PreTrainedConfig):
    """Base of the method configs. Subclasses set `model_type` ("vssl-<method>"), the default
    backbone through `sub_configs_defaults`, and add their hyper-parameters as typed fields."""

    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "backbone_config": SubConfigSpec(config_class=AutoConfig, model_type="vssl-s3d"),
    }
    backbone_config: dict | PreTrainedConfig | None = None

    @property
    def method(self) -> str:
        return self.model_type.removeprefix("vssl-")

    # The clip fields most methods share, checked once here; a method without one of them skips it.
    def validate_clip_geometry(self) -> None:
        frame_size, crop = getattr(self, "frame_size", None), getattr(self, "crop_size", None)
        if frame_size is not None and (len(frame_size) != 2 or min(frame_size) < 1):
            raise ValueError(f"frame_size must be (H, W) of positive sizes, got {frame_size}")
        if crop is not None and crop < 1:
            raise ValueError(f"crop_size must be >= 1, got {crop}")
        if crop is not None and frame_size is not None:
            check_crop_fits(crop, frame_size)

    def validate_augmentation(self) -> None:
        for name in ("flip_p", "grayscale_p", "color_jitter_p", "blur_p"):
            if not 0 <= getattr(self, name, 0) <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        jitter, scale = getattr(self, "color_jitter", None), getattr(self, "crop_scale", None)
        if jitter is not None and len(jitter) != 4:
            raise ValueError(
                f"color_jitter must be 4 strengths (brightness, contrast, saturation, hue), got {jitter}"
            )
        if scale is not None and (len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1):
            raise ValueError(
                f"crop_scale must be an area range (min, max) with 0 < min <= max <= 1, got {scale}"
            )

    def pretraining_record(self) -> dict[str, Any]:
        """The method's fields as written into the backbone config of a checkpoint."""
        generic = {f.name for f in dataclasses.fields(VsslPretrainingConfig)}
        own = [f.name for f in dataclasses.fields(self) if f.name not in generic]
        return {"method": self.method, **{name: _jsonable(getattr(self, name)) for name in own}}

    @classmethod
    def from_checkpoint_config(
        cls, backbone_config: VsslBackboneConfig, source: str | Path
    ) -> VsslPretrainingConfig:
        """Rebuild the method config from a checkpoint's backbone config and its `pretraining` record."""
        record = dict(getattr(backbone_config, PRETRAINING_KEY, None) or {})
        method = record.pop("method", None)
        expected = cls.model_type.removeprefix("vssl-")
        if method != expected:
            found = (
                f"was pretrained with '{method}'"
                if method
                else "is a plain backbone without pretraining heads"
            )
            raise ValueError(
                f"{source} {found}, so it cannot load into {cls.__name__}. Load it with AutoModel.from_pretrained, "
                f"or start '{expected}' pretraining from it with `init_backbone_from`."
            )
        backbone_dict = backbone_config.to_dict()
        backbone_dict[PRETRAINING_KEY] = None
        return cls(backbone_config=backbone_dict, **record)


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass
class VsslPretrainingOutput(ModelOutput):
    """loss: the total to minimise; loss_terms: each weighted term, detached, for logging;
    metrics: pretext diagnostics (pace accuracy, valid concepts...); embeddings / logits: what a
    caller may need next (prototype scores for cluster evaluation, pace logits...)."""

    loss: torch.Tensor | None = None
    loss_terms: dict[str, torch.Tensor] | None = None
    metrics: dict[str, torch.Tensor] | None = None
    logits: torch.Tensor | None = None
    embeddings: torch.Tensor | None = None


class VsslForPretraining(VsslPreTrainedModel):
    """Base of `<Method>ForPretraining`: owns `self.backbone`, the save/load contract and the hooks the
    training loop calls (the prototype schedule of SwAV-style methods is handled here; methods add
    their own schedules by overriding `set_epoch` and the step hooks)."""

    config_class: ClassVar[type[VsslPretrainingConfig]]

    def __init__(self, config: VsslPretrainingConfig) -> None:
        super().__init__(config)
        self.backbone = AutoModel.from_config(config.backbone_config)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the training loop at the start of each epoch (0-based): epoch-driven schedules.
        Prototypes stay frozen for the config's first `freeze_prototypes_epochs` epochs."""
        self.epoch = epoch
        for prototypes in self.prototype_banks():
            prototypes.frozen = epoch < getattr(self.config, "freeze_prototypes_epochs", 0)

    def before_optimizer_step(self) -> None:
        """Called after backward (gradients all-reduced) and before the optimizer step: drops the
        gradient of frozen prototypes (SwAV sets it to None so that momentum and decay skip them too)."""
        for prototypes in self.prototype_banks():
            prototypes.drop_grad_if_frozen()

    def after_optimizer_step(self) -> None:
        """Called after every real optimizer step (not every micro-batch): prototype renormalisation."""
        for prototypes in self.prototype_banks():
            prototypes.normalize_()

    def prototype_banks(self) -> list[Prototypes]:
        """The trained prototype / concept banks of the method (a frozen stream's are left alone)."""
        return [m for m in self.modules() if isinstance(m, Prototypes) and m.weight.requires_grad]

    def has_idle_parameters(self) -> bool:
        """Whether some steps leave trainable parameters without a gradient (a head whose loss starts
        at a later epoch): DDP must then search for them (`find_unused_parameters`) or it fails."""
        return False

    def init_backbone_from(self, pretrained_model_name_or_path: str | Path, **kwargs: Any) -> None:
        """Start pretraining from another checkpoint's backbone weights (its heads are not used)."""
        source = AutoModel.from_pretrained(pretrained_model_name_or_path, **kwargs)
        if type(source) is not type(self.backbone):
            raise ValueError(
                f"{pretrained_model_name_or_path} is a {type(source).__name__}, this model's backbone is a "
                f"{type(self.backbone).__name__}"
            )
        theirs, ours = source.state_dict(), self.backbone.state_dict()
        if {k: v.shape for k, v in theirs.items()} != {k: v.shape for k, v in ours.items()}:
            raise ValueError(
                f"--init-backbone-from {pretrained_model_name_or_path}: its backbone does not fit this model's "
                f"({_backbone_difference(source, self.backbone)}); build the model with the checkpoint's "
                "backbone config (--backbone-config) or start from another checkpoint"
            )
        self.backbone.load_state_dict(theirs)

    def checkpoint_config(self) -> VsslBackboneConfig:
        """The backbone config with this method's record: what `config.json` holds."""
        backbone_config = type(self.config.backbone_config).from_dict(self.config.backbone_config.to_dict())
        setattr(backbone_config, PRETRAINING_KEY, self.config.pretraining_record())
        backbone_config.architectures = [type(self).__name__]
        return backbone_config

    def save_pretrained(self, save_directory: str | Path, *args: Any, **kwargs: Any) -> None:
        super().save_pretrained(save_directory, *args, **kwargs)
        # replace the method config by the backbone config + record, so AutoModel sees a backbone
        config_path = Path(save_directory) / "config.json"
        config_path.write_text(
            json.dumps(self.checkpoint_config().to_dict(), indent=2, sort_keys=True) + "\n"
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *args: Any, **kwargs: Any):
        if not isinstance(kwargs.get("config"), PreTrainedConfig):
            backbone_config = AutoConfig.from_pretrained(pretrained_model_name_or_path, **_hub_kwargs(kwargs))
            kwargs["config"] = cls.config_class.from_checkpoint_config(
                backbone_config, pretrained_model_name_or_path
            )
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)


def _backbone_difference(there: VsslPreTrainedModel, here: VsslPreTrainedModel) -> str:
    """The config fields and the first tensor shape in which two backbones of one class differ."""
    bookkeeping = {"pretraining", "architectures", "transformers_version", "_name_or_path", "dtype"}
    theirs, ours = there.config.to_dict(), here.config.to_dict()
    fields = [
        f"{k} {theirs.get(k)} there, {ours.get(k)} here"
        for k in sorted(ours.keys() - bookkeeping)
        if theirs.get(k) != ours.get(k)
    ]
    there_shapes = {k: tuple(v.shape) for k, v in there.state_dict().items()}
    here_shapes = {k: tuple(v.shape) for k, v in here.state_dict().items()}
    first = next(
        f"{k}: {there_shapes.get(k, 'absent')} there, {here_shapes.get(k, 'absent')} here"
        for k in [*here_shapes, *there_shapes]
        if there_shapes.get(k) != here_shapes.get(k)
    )
    return "; ".join([*fields, first])
