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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, AutoModel, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec
from transformers.utils import ModelOutput

from ..data.augment import check_crop_fits
from ..data.processor import VsslVideoProcessor
from ..models.modeling_utils import VsslBackboneConfig, VsslPreTrainedModel, _hub_kwargs
from ..nn.prototypes import Prototypes
from ..optim.recipe import OptimizerRecipe
from ..typed_fields import check_bounds, check_field, coerce_fields

PRETRAINING_KEY = "pretraining"


@strict
class VsslPretrainingConfig(PreTrainedConfig):
    """Base of the method configs: the clip, augmentation and optimisation fields every method has,
    declared and validated once here. A method sets `model_type` ("vssl-<method>") and its default
    backbone (`sub_configs_defaults`), overrides the defaults below with its paper's values (with a
    comment citing the supplementary table or released file) and adds its own fields.

    A method whose model has prototype banks (`VsslForPretraining.prototype_banks`) declares
    `freeze_prototypes_epochs`.
    """

    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "backbone_config": SubConfigSpec(config_class=AutoConfig, model_type="vssl-s3d"),
    }
    backbone_config: dict | PreTrainedConfig | None = None

    # --- clip (what one training sample decodes) ---
    num_frames: int = 16  # frames per clip (every paper's main setting)
    # (H, W) frames are decoded at before cropping (the papers' 128 x 171); None keeps the video's size
    frame_size: list[int] | None = field(default_factory=lambda: [128, 171])
    crop_size: int = 112  # side of the square training crop

    # --- augmentation (batched, on the device) ---
    # random resized crop: area range (None: a fixed `crop_size` crop at a random position, no resize)
    crop_scale: list[float] | None = field(default_factory=lambda: [0.08, 1.0])
    crop_ratio: list[float] = field(default_factory=lambda: [3 / 4, 4 / 3])  # aspect range of the crop
    flip_p: float = 0.5
    color_jitter: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])  # b, c, s, h
    color_jitter_p: float = 0.0
    grayscale_p: float = 0.0
    blur_p: float = 0.0
    blur_sigma: list[float] = field(default_factory=lambda: [0.1, 2.0])

    # --- optimisation (`hf_vssl.optim.OptimizerRecipe` builds and validates it) ---
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    weight_decay: float = 0.0
    momentum: float = 0.9
    lr_schedule: str = "constant"
    lr_milestones: list[int] = field(default_factory=list)  # epochs of the "step" schedule
    lr_decay_factor: float = 0.1
    final_lr: float = 0.0  # end of the "cosine" schedule
    warmup_epochs: float = 0.0
    lars_trust_coefficient: float = 0.001  # ViCC supp. / docs/METHODS.md#vicc: LARS eta 0.001, no clipping
    # ViCC's released src/main_single.py:321 wraps SGD in apex LARC, which adapts and decays every
    # parameter (biases and BatchNorm included); True skips 1-D tensors as SwAV-style LARS does
    lars_exclude_bias_and_norm: bool = False
    epochs: int = 100
    # passes over the training videos per epoch: epochs, milestones and schedules count these longer
    # epochs (Pace's release repeats its video list 10x per epoch)
    epoch_repeats: int = 1
    # samples drawn from each decoded video (VideoMAE v2's repeated augmentation, `--num_sample`); 1 = off,
    # as every released method. K > 1: a data worker draws K independent clips of one video and decodes
    # their frames in one pass; `batch_size` still counts samples (the loader reads batch_size / K videos)
    # and an epoch keeps its steps (it reads 1/K of the videos). Contrastive terms (ViCC, MFO, SDC, Pace's
    # unless contrastive="none") then meet same-video samples as negatives in the batch
    repeated_samples: int = 1
    batch_size: int = 64  # global: all processes x accumulation steps

    def __post_init__(self, **kwargs: Any) -> None:
        coerce_fields(self, own_field_names(type(self)))
        super().__post_init__(**kwargs)

    @property
    def method(self) -> str:
        return self.model_type.removeprefix("vssl-")

    @property
    def modality(self) -> str:
        """The input stream of the trained backbone: "rgb" (ViCC also trains "flow")."""
        return "rgb"

    @property
    def optimizer_recipe(self) -> OptimizerRecipe:
        return OptimizerRecipe.from_config(self)

    def validate_field_bounds(self) -> None:
        """The `bounds` every field's metadata declares (`hf_vssl.typed_fields.bounds`)."""
        check_bounds(self)

    def validate_clip(self) -> None:
        check_field("num_frames", self.num_frames, self.num_frames >= 1, ">= 1")
        check_field("crop_size", self.crop_size, self.crop_size >= 1, ">= 1")
        if self.frame_size is not None:
            ok = len(self.frame_size) == 2 and min(self.frame_size) >= 1
            check_field("frame_size", self.frame_size, ok, "(H, W) of positive sizes, or None")
            check_crop_fits(self.crop_size, self.frame_size)

    def validate_augmentation(self) -> None:
        for name in ("flip_p", "color_jitter_p", "grayscale_p", "blur_p"):
            value = getattr(self, name)
            check_field(name, value, 0 <= value <= 1, "a probability in [0, 1]")
        jitter = self.color_jitter
        ok = len(jitter) == 4 and min(jitter) >= 0 and jitter[3] <= 0.5
        check_field(
            "color_jitter", jitter, ok, "4 strengths >= 0 (brightness, contrast, saturation, hue <= 0.5)"
        )
        if self.crop_scale is not None:
            scale = self.crop_scale
            ok = len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1
            check_field("crop_scale", scale, ok, "an area range (min, max) with 0 < min <= max <= 1, or None")
        ratio = self.crop_ratio
        check_field(
            "crop_ratio",
            ratio,
            len(ratio) == 2 and 0 < ratio[0] <= ratio[1],
            "(min, max) with 0 < min <= max",
        )
        sigma = self.blur_sigma
        check_field(
            "blur_sigma",
            sigma,
            len(sigma) == 2 and 0 < sigma[0] <= sigma[1],
            "(min, max) with 0 < min <= max",
        )

    def validate_recipe(self) -> None:
        self.optimizer_recipe  # noqa: B018  (building the recipe validates every optimisation field)
        check_field("epoch_repeats", self.epoch_repeats, self.epoch_repeats >= 1, ">= 1")
        repeats = self.repeated_samples
        check_field("repeated_samples", repeats, repeats >= 1, ">= 1")
        check_field(
            "repeated_samples",
            repeats,
            self.batch_size % repeats == 0,
            f"a divisor of batch_size {self.batch_size} (the loader reads batch_size / repeated_samples videos)",
        )

    @property
    def compares_batch_samples(self) -> bool:
        """Whether the loss compares each sample with the batch's others (negatives, Sinkhorn codes): with
        `repeated_samples` > 1 some of those are clips of the same video."""
        return True

    def method_summary(self) -> str:
        """What the method's fields set, in a sentence for the recipe of model cards
        (`hf_vssl.hub.cards.recipe_summary`)."""
        return f"{self.method} pretraining:"

    def video_processor(self) -> VsslVideoProcessor:
        """The test-time preprocessing of this run's clips (saved with the model; evaluation's default):
        `num_frames`-frame clips of frames decoded at `frame_size`, centre `crop_size` crop."""
        crop = [self.crop_size, self.crop_size]
        if self.frame_size is None:
            return VsslVideoProcessor(num_frames=self.num_frames, frame_size=None, crop_size=crop)
        return VsslVideoProcessor(
            num_frames=self.num_frames, frame_size=list(self.frame_size), crop_size=crop
        )

    def pretraining_record(self) -> dict[str, Any]:
        """The method's fields as written into the backbone config of a checkpoint."""
        own = own_field_names(type(self))
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


def own_field_names(cls: type[PreTrainedConfig]) -> list[str]:
    """The fields a user sets on a method or backbone config: not transformers' bookkeeping, the nested
    backbone config or a checkpoint's pretraining record (for a method config: the shared clip /
    augmentation / recipe fields, then the method's)."""
    inherited = {f.name for f in dataclasses.fields(PreTrainedConfig)} | {"backbone_config", PRETRAINING_KEY}
    return [f.name for f in dataclasses.fields(cls) if f.name not in inherited]


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
        Prototypes stay frozen for the config's first `freeze_prototypes_epochs` epochs (a method
        with prototype banks declares that field)."""
        self.epoch = epoch
        for prototypes in self.prototype_banks():
            prototypes.frozen = epoch < self.config.freeze_prototypes_epochs

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
