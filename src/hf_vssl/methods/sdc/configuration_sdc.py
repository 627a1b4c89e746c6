"""Configuration of SDC, static and dynamic concepts (seed 002; METHODS.md "SDC").

Every default is the seed's; where the released code differs, the field's comment says so.
"""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig
from transformers.configuration_utils import SubConfigSpec

from ..modeling_pretraining import VsslPretrainingConfig
from .concepts import TRANSFORM_HEADS


@strict
class SDCConfig(VsslPretrainingConfig):
    """SDC on any backbone; the default is R(2+1)D-18 (seed 002 table 4 also R3D-34).

    Seed 002 ablations: table 1 `transform_head`, table 2 `decoder_hidden_dims`, table 3 `top_k`,
    table 5 `separate_encoders`.
    """

    model_type = "vssl-sdc"
    # seed 002 table 4: R(2+1)D-18 (torchvision layout, [2,2,2,2] blocks); the released code used the
    # torchvision layout with [1,1,1,1] blocks: backbone_config={"model_type": "vssl-r2plus1d",
    # "variant": "torchvision", "layers": [1, 1, 1, 1]}
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "backbone_config": SubConfigSpec(
            config_class=AutoConfig, model_type="vssl-r2plus1d", init_kwargs={"variant": "torchvision"}
        ),
    }

    # --- views (seed 002 §1; METHODS.md "SDC") ---
    num_frames: int = 16  # seed 002 §1: 16-frame clips; v1, v2 are two consecutive ones
    max_stride: int = 3  # released dataloader: frame stride drawn in [1, min(3, N / 32)]
    # seed 002 §1: 16x112x112 clips (METHODS.md / the released code: crop 128), random horizontal
    # flip: the shared defaults
    crop_scale: list[float] | None = field(default_factory=lambda: [0.5, 1.0])  # released RandomSizedCrop
    grayscale_p: float = 0.5  # released train.py: RandomGray p 0.5
    # seed 002 §1: colour jitter on v and s (released: 0.5 / 0.5 / 0.5 / 0.25, always applied)
    color_jitter: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5, 0.25])
    color_jitter_p: float = 1.0
    # seed 002 §1: Gaussian blur on v and s (SimCLR-style sigma 0.1-2, p 0.5; absent from the released code)
    blur_p: float = 0.5
    # released train.py RandomSizedCrop(consistent=True) (its augmentation.py is not shipped; MFO's, by the
    # same authors): up to 10 draws (aspect uniform, w / h swapped with p 0.5), then the centre square;
    # "torchvision": log-uniform aspect, centre fallback
    crop_sampler: str = "ten_draws"
    # released RandomGray(consistent=True) (MFO's augmentation.py RandomGray.grayscale): the grey channel
    # drawn per frame of the clip v (and so of d); the static view s keeps one channel, as seed 002 §1
    # says it has no temporal dynamics (the release: per frame there too)
    grayscale_channel_per_frame: bool = True
    # released dataloader.py sample_frame: stride sr ~ U(1, min(3, N / 32)), frames round(start + i sr)
    continuous_stride: bool = True
    # released dataloader.py: one back_idx for both clips' static frames; False: one offset per clip
    shared_static_offset: bool = True

    # --- encoders and heads ---
    separate_encoders: bool = False  # seed 002 table 5: one shared encoder beats three separate ones
    transform_head: str = "identity"  # seed 002 §1 / table 1: sigma = identity (also "linear", "mlp")
    num_static_concepts: int = 50  # seed 002 tables 2-3: K_s = 50 (UCF-101); 100 for Kinetics-400
    num_dynamic_concepts: int = 50  # seed 002 tables 2-3: K_d = 50 (UCF-101); 100 for Kinetics-400
    # seed 002 §1 / table 2: g = MLP 100-512-512 / 50-512-512; [128] is 100-128-512, [] the linear 100-512
    decoder_hidden_dims: list[int] = field(default_factory=lambda: [512])

    # --- concept alignment (METHODS.md) ---
    concept_temperature: float = 0.1  # swapped prediction and entropy softmax, tau 0.1
    sinkhorn_epsilon: float = 0.05
    sinkhorn_iterations: int = 3
    queue_size: int = 1024  # past concept scores in front of the batch before Sinkhorn
    queue_start_epoch: int = 1  # released train.py: queue used from the second epoch
    freeze_prototypes_epochs: int = 1  # released train.py: no concept gradient in epoch 0
    entropy_weight: float = 0.1  # METHODS.md: entropy term weight 0.1
    alignment_weight: float = 1.0  # static + dynamic swapped prediction
    reconstruction_weight: float = 1.0  # decoders g: negative cosine to the detached feature

    # --- cross-view InfoNCE (METHODS.md: v1-v2, v-s and v-d of the other clip) ---
    nce_dim: int = 128  # released model.py: 512-512-128 projection heads
    nce_temperature: float = 0.07
    nce_weight: float = 1.0
    # released train.py `contrast(q, k)`: einsum('nc,mc->nm', q, k.detach()), no gradient through the
    # key of each direction; False back-propagates through both sides
    nce_detach_keys: bool = True

    # --- local concept matching L_loc (seed 002 eq. 8) ---
    local_start_epoch: int = 5  # seed 002 §1: no L_loc in the first 5 epochs (the released code: 10)
    top_k: int = 5  # seed 002 table 3: K = 5 (top-10% of 50 concepts)
    local_margin: float = 1.4  # released model.py: negatives pushed beyond distance 1.4
    local_attention_iterations: int = 1  # METHODS.md: templates attend once over the tokens
    local_weight: float = 1.0

    # --- optimisation recipe (METHODS.md) ---
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    lr_schedule: str = "step"
    lr_milestones: list[int] = field(default_factory=lambda: [120, 160])  # x0.1 at epochs 120 and 160
    epochs: int = 200
    batch_size: int = 96

    # released dataloader.py `res = rgb - torch.roll(rgb, 1, 2)`: the T differences of the T-frame clip v, the
    # first one wrapping around (frame 0 minus frame T - 1; seed 002 §1: "the difference between adjacent frames
    # in v"); False decodes one more frame so that every difference is of two neighbouring frames
    difference_wrap: bool = True

    def method_summary(self) -> str:
        encoders = "separate encoders" if self.separate_encoders else "one shared encoder"
        return (
            f"SDC (seed 002): clips, static frames and frame differences through {encoders}, "
            f"{self.num_static_concepts} + {self.num_dynamic_concepts} concepts with Sinkhorn swapped prediction, "
            f"concept decoders, local concept matching from epoch {self.local_start_epoch} (top-{self.top_k}) and "
            f"cross-view InfoNCE (tau {self.nce_temperature:g});"
        )

    @property
    def num_concepts(self) -> int:
        """Concepts per prototype matrix: K_s static then K_d dynamic."""
        return self.num_static_concepts + self.num_dynamic_concepts

    def validate_num_frames(self) -> None:
        if self.num_frames < 2:
            raise ValueError(
                f"num_frames must be >= 2 (a frame difference needs two frames), got {self.num_frames}"
            )

    def validate_max_stride(self) -> None:
        if self.max_stride < 1:
            raise ValueError(f"max_stride must be >= 1, got {self.max_stride}")

    def validate_transform_head(self) -> None:
        if self.transform_head not in TRANSFORM_HEADS:
            raise ValueError(
                f"transform_head must be one of {list(TRANSFORM_HEADS)}, got {self.transform_head!r}"
            )

    def validate_concepts(self) -> None:
        for name in ("num_static_concepts", "num_dynamic_concepts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def validate_top_k(self) -> None:
        smallest = min(self.num_static_concepts, self.num_dynamic_concepts)
        if not 1 <= self.top_k <= smallest:
            raise ValueError(
                f"top_k must be in [1, {smallest}] (min of num_static_concepts, num_dynamic_concepts), got {self.top_k}"
            )

    def validate_widths(self) -> None:
        for name in ("nce_dim", "sinkhorn_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def validate_decoder_hidden_dims(self) -> None:
        if any(width < 1 for width in self.decoder_hidden_dims):
            raise ValueError(f"decoder_hidden_dims must be positive widths, got {self.decoder_hidden_dims}")

    def validate_temperatures(self) -> None:
        for name in ("concept_temperature", "sinkhorn_epsilon", "nce_temperature", "local_margin"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    def validate_weights(self) -> None:
        for name in (
            "entropy_weight",
            "alignment_weight",
            "reconstruction_weight",
            "nce_weight",
            "local_weight",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def validate_epochs_fields(self) -> None:
        for name in ("queue_size", "queue_start_epoch", "freeze_prototypes_epochs", "local_start_epoch"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.local_attention_iterations < 1:
            raise ValueError(
                f"local_attention_iterations must be >= 1, got {self.local_attention_iterations}"
            )


__all__ = ["SDCConfig"]
