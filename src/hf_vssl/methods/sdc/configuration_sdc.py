"""Configuration of SDC, static and dynamic concepts (Qian et al., ECCV 2022; docs/METHODS.md#sdc).

Every default is the paper's; where the released code differs, the field's comment says so.
"""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig
from transformers.configuration_utils import SubConfigSpec

from ...data.augment import CropSampler
from ...typed_fields import bounds
from ..modeling_pretraining import VsslPretrainingConfig
from .concepts import TransformHead


@strict
class SDCConfig(VsslPretrainingConfig):
    """SDC on any backbone; the default is R(2+1)D-18 (SDC supp. Table 4 also R3D-34).

    SDC supp. ablations: table 1 `transform_head`, table 2 `decoder_hidden_dims`, table 3 `top_k`,
    table 5 `separate_encoders`.
    """

    model_type = "vssl-sdc"
    # SDC supp. Table 4: R(2+1)D-18 (torchvision layout, [2,2,2,2] blocks); the released code used the
    # torchvision layout with [1,1,1,1] blocks: backbone_config={"model_type": "vssl-r2plus1d",
    # "variant": "torchvision", "layers": [1, 1, 1, 1]}
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "backbone_config": SubConfigSpec(
            config_class=AutoConfig, model_type="vssl-r2plus1d", init_kwargs={"variant": "torchvision"}
        ),
    }

    # --- views (SDC supp. §1; docs/METHODS.md#sdc) ---
    # SDC supp. §1: 16-frame clips; v1, v2 are two consecutive ones
    num_frames: int = field(default=16, metadata=bounds(ge=2, why="a frame difference needs two frames"))
    # released dataloader: frame stride drawn in [1, min(3, N / 32)]
    max_stride: int = field(default=3, metadata=bounds(ge=1))
    # SDC supp. §1: 16x112x112 clips (docs/METHODS.md#sdc / the released code: crop 128), random horizontal
    # flip: the shared defaults
    crop_scale: list[float] | None = field(default_factory=lambda: [0.5, 1.0])  # released RandomSizedCrop
    grayscale_p: float = 0.5  # released train.py: RandomGray p 0.5
    # SDC supp. §1: colour jitter on v and s (released: 0.5 / 0.5 / 0.5 / 0.25, always applied)
    color_jitter: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5, 0.25])
    color_jitter_p: float = 1.0
    # SDC supp. §1: Gaussian blur on v and s (SimCLR-style sigma 0.1-2, p 0.5; absent from the released code)
    blur_p: float = 0.5
    # released train.py RandomSizedCrop(consistent=True) (its augmentation.py is not shipped; MFO's, by the
    # same authors): up to 10 draws (aspect uniform, w / h swapped with p 0.5), then the centre square;
    # "torchvision": log-uniform aspect, centre fallback
    crop_sampler: CropSampler = "ten_draws"
    # released RandomGray(consistent=True) (MFO's augmentation.py RandomGray.grayscale): the grey channel
    # drawn per frame of the clip v (and so of d); the static view s keeps one channel, as SDC supp. §1
    # says it has no temporal dynamics (the release: per frame there too)
    grayscale_channel_per_frame: bool = True
    # released dataloader.py sample_frame: stride sr ~ U(1, min(3, N / 32)), frames round(start + i sr)
    continuous_stride: bool = True
    # released dataloader.py: one back_idx for both clips' static frames; False: one offset per clip
    shared_static_offset: bool = True

    # --- encoders and heads ---
    separate_encoders: bool = False  # SDC supp. Table 5: one shared encoder beats three separate ones
    transform_head: TransformHead = "identity"  # SDC supp. §1 / table 1: sigma = identity
    # SDC supp. Tables 2-3: K_s = K_d = 50 (UCF-101); 100 for Kinetics-400
    num_static_concepts: int = field(default=50, metadata=bounds(ge=1))
    num_dynamic_concepts: int = field(default=50, metadata=bounds(ge=1))
    # SDC supp. §1 / table 2: g = MLP 100-512-512 / 50-512-512; [128] is 100-128-512, [] the linear 100-512
    decoder_hidden_dims: list[int] = field(default_factory=lambda: [512], metadata=bounds(ge=1))

    # --- concept alignment (docs/METHODS.md#sdc) ---
    # swapped prediction and entropy softmax, tau 0.1
    concept_temperature: float = field(default=0.1, metadata=bounds(gt=0))
    sinkhorn_epsilon: float = field(default=0.05, metadata=bounds(gt=0))
    sinkhorn_iterations: int = field(default=3, metadata=bounds(ge=1))
    # past concept scores in front of the batch before Sinkhorn
    queue_size: int = field(default=1024, metadata=bounds(ge=0))
    # released train.py: queue used from the second epoch
    queue_start_epoch: int = field(default=1, metadata=bounds(ge=0))
    # released train.py: no concept gradient in epoch 0
    freeze_prototypes_epochs: int = field(default=1, metadata=bounds(ge=0))
    # docs/METHODS.md#sdc: entropy term weight 0.1
    entropy_weight: float = field(default=0.1, metadata=bounds(ge=0))
    alignment_weight: float = field(default=1.0, metadata=bounds(ge=0))  # static + dynamic swapped prediction
    # decoders g: negative cosine to the detached feature
    reconstruction_weight: float = field(default=1.0, metadata=bounds(ge=0))

    # --- cross-view InfoNCE (docs/METHODS.md#sdc: v1-v2, v-s and v-d of the other clip) ---
    nce_dim: int = field(
        default=128, metadata=bounds(ge=1)
    )  # released model.py: 512-512-128 projection heads
    nce_temperature: float = field(default=0.07, metadata=bounds(gt=0))
    nce_weight: float = field(default=1.0, metadata=bounds(ge=0))
    # released train.py `contrast(q, k)`: einsum('nc,mc->nm', q, k.detach()), no gradient through the
    # key of each direction; False back-propagates through both sides
    nce_detach_keys: bool = True

    # --- local concept matching L_loc (SDC paper Eq. 8) ---
    # SDC supp. §1: no L_loc in the first 5 epochs (the released code: 10)
    local_start_epoch: int = field(default=5, metadata=bounds(ge=0))
    top_k: int = field(default=5, metadata=bounds(ge=1))  # SDC supp. Table 3: K = 5 (top-10% of 50 concepts)
    # released model.py: negatives pushed beyond distance 1.4
    local_margin: float = field(default=1.4, metadata=bounds(gt=0))
    # docs/METHODS.md#sdc: templates attend once over the tokens
    local_attention_iterations: int = field(default=1, metadata=bounds(ge=1))
    local_weight: float = field(default=1.0, metadata=bounds(ge=0))

    # --- optimisation recipe (docs/METHODS.md#sdc) ---
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    lr_schedule: str = "step"
    lr_milestones: list[int] = field(default_factory=lambda: [120, 160])  # x0.1 at epochs 120 and 160
    epochs: int = 200
    batch_size: int = 96

    # released dataloader.py `res = rgb - torch.roll(rgb, 1, 2)`: the T differences of the T-frame clip v, the
    # first one wrapping around (frame 0 minus frame T - 1; SDC supp. §1: "the difference between adjacent
    # frames in v"); False decodes one more frame so that every difference is of two neighbouring frames
    difference_wrap: bool = True

    def method_summary(self) -> str:
        encoders = "separate encoders" if self.separate_encoders else "one shared encoder"
        return (
            f"SDC (Qian et al., ECCV 2022): clips, static frames and frame differences through {encoders}, "
            f"{self.num_static_concepts} + {self.num_dynamic_concepts} concepts with Sinkhorn swapped prediction, "
            f"concept decoders, local concept matching from epoch {self.local_start_epoch} (top-{self.top_k}) and "
            f"cross-view InfoNCE (tau {self.nce_temperature:g});"
        )

    @property
    def num_concepts(self) -> int:
        """Concepts per prototype matrix: K_s static then K_d dynamic."""
        return self.num_static_concepts + self.num_dynamic_concepts

    def validate_top_k(self) -> None:
        smallest = min(self.num_static_concepts, self.num_dynamic_concepts)
        if self.top_k > smallest:
            raise ValueError(
                f"top_k must be in [1, {smallest}] (min of num_static_concepts, num_dynamic_concepts), got {self.top_k}"
            )


__all__ = ["SDCConfig"]
