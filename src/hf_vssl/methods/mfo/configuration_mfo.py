"""Configuration of MFO, multi-level feature optimisation (Qian et al., ICCV 2021; docs/METHODS.md#mfo).

Every default is the paper's; where the released code differs, the field's comment says so and the
released behaviour is one value away.
"""

from __future__ import annotations

from dataclasses import field
from typing import ClassVar, Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig
from transformers.configuration_utils import SubConfigSpec

from ...data.augment import CropSampler
from ...typed_fields import bounds
from ..modeling_pretraining import VsslPretrainingConfig
from .temporal import TEMPORAL_TRANSFORMS


@strict
class MFOConfig(VsslPretrainingConfig):
    """MFO on a backbone with low / mid / high feature levels (`backbone_config.multilevel_stages`).

    MFO supp. Table 3 rows: `use_aug_loss` / `use_ret_loss` (both True is the full model).
    """

    model_type = "vssl-mfo"
    # MFO supp. Table 1 / docs/METHODS.md#mfo: Hara et al.'s R3D-18; MFO supp. Table 2: S3D ("vssl-s3d")
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "backbone_config": SubConfigSpec(
            config_class=AutoConfig, model_type="vssl-r3d", init_kwargs={"depth": 18, "stem": "hara"}
        ),
    }

    # --- views (MFO supp. §2; docs/METHODS.md#mfo-views) ---
    # MFO supp. §2: 32 frames split into two 16-frame clips; the overview takes every 2nd
    num_frames: int = field(default=16, metadata=bounds(ge=2, why="frames per clip"))
    # docs/METHODS.md#mfo: frame stride drawn in [1, min(3, N / 32)] (released --rate 3)
    max_stride: int = field(default=3, metadata=bounds(ge=1))
    # MFO supp. §2: 112x112 clips from 128x171 frames, horizontal flipping (the shared defaults)
    # docs/METHODS.md#mfo: area 0.5-1
    crop_scale: list[float] | None = field(default_factory=lambda: [0.5, 1.0])
    grayscale_p: float = 0.5  # docs/METHODS.md#mfo: grey p 0.5
    # docs/METHODS.md#mfo: jitter brightness / contrast / saturation / hue 0.5 / 0.5 / 0.5 / 0.25, always
    # applied
    color_jitter: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5, 0.25])
    color_jitter_p: float = 1.0
    # MFO supp. §2: temporally consistent jitter; the released code drew it per frame (consistent=False): True
    color_jitter_per_frame: bool = False
    # MFO supp. §2 blurs each clip (following CoCLR / MemDPC, SimCLR-style sigma 0.1-2, p 0.5);
    # the released augmentation.py has no blur: blur_p=0.0
    blur_p: float = 0.5
    # released train.py RandomSizedCrop(consistent=True) (augmentation.py): up to 10 draws (aspect uniform,
    # w / h swapped with p 0.5), then the centre square; "torchvision": log-uniform aspect, centre fallback
    crop_sampler: CropSampler = "ten_draws"
    # released train.py RandomGray(consistent=False): grey drawn per frame, and (augmentation.py
    # RandomGray.grayscale) its channel too; MFO supp. §2 lists no grey among its temporally consistent ops
    grayscale_per_frame: bool = True
    grayscale_channel_per_frame: bool = True
    # released dataloader.py sample_frame: stride sr ~ U(1, min(3, N / 32)), frames round(start + i sr);
    # False: an integer stride in {1, ..., min(3, N // 32)}
    continuous_stride: bool = True

    # --- heads ---
    # released model.py: every projection ends in 128 channels
    projection_dim: int = field(default=128, metadata=bounds(ge=1))
    # released r3d.py: channel reduction of the motion-excitation module
    motion_reduction: int = field(default=16, metadata=bounds(ge=1))
    temperature: float = field(
        default=0.07, metadata=bounds(gt=0)
    )  # MFO supp. §2: tau of every contrastive loss

    # --- temporal modelling (MFO supp. Table 3) ---
    use_aug_loss: bool = True  # L_aug: low / mid contrast with temporally transformed negatives
    # MFO supp. §2: "temporal shuffle and reverse"; the released code reverses only: ["reverse"]
    temporal_negatives: list[str] = field(default_factory=lambda: ["reverse", "shuffle"])
    use_ret_loss: bool = True  # L_ret: timestamp retrieval between the short clips and the overview
    # docs/METHODS.md#mfo: cross-entropy over time indices, tau 0.07
    retrieval_temperature: float = field(default=0.07, metadata=bounds(gt=0))

    # --- prototypes (MFO supp. §2; docs/METHODS.md#mfo) ---
    # MFO supp. §2: 1000 prototypes for Kinetics-400; docs/METHODS.md#mfo: 200 when pretraining on UCF-101
    num_prototypes: int = field(default=1000, metadata=bounds(ge=2))
    # docs/METHODS.md#mfo: swapped cross-entropy, tau 0.1
    prototype_temperature: float = field(default=0.1, metadata=bounds(gt=0))
    sinkhorn_epsilon: float = field(default=0.05, metadata=bounds(gt=0))  # docs/METHODS.md#mfo: eps 0.05
    sinkhorn_iterations: int = field(default=3, metadata=bounds(ge=1))  # docs/METHODS.md#mfo: 3 iterations
    # MFO supp. §2: queue length 1024 (of past prototype scores, docs/METHODS.md#mfo)
    queue_size: int = field(default=1024, metadata=bounds(ge=0))
    # released train.py: the queue joins Sinkhorn from epoch 10
    queue_start_epoch: int = field(default=10, metadata=bounds(ge=0))
    # released train.py: no prototype gradient in epoch 0
    freeze_prototypes_epochs: int = field(default=1, metadata=bounds(ge=0))

    # --- graph G_ins and L_mul ---
    graph_threshold: float = field(
        default=0.05, metadata=bounds(ge=0, lt=1, why="eta")
    )  # MFO supp. §2: eta 0.05
    # MFO supp. §2: two-stage schedule; released train.py --split 20
    graph_start_epoch: int = field(default=20, metadata=bounds(ge=0))
    # MFO supp. §2: before the graph starts only L_high (instance + prototype contrast on high-level
    # features) is trained; the released train.py trains every term but L_mul there: False
    stage_one_high_only: bool = True

    # --- loss weights (released train.py: high + graph + 0.5 mid + 0.3 low + 0.5 proto) ---
    level_weights: list[float] = field(
        default_factory=lambda: [0.3, 0.5, 1.0], metadata=bounds(ge=0)
    )  # low, mid, high
    proto_weight: float = field(default=0.5, metadata=bounds(ge=0))
    graph_weight: float = field(default=1.0, metadata=bounds(ge=0))

    # --- optimisation recipe (MFO supp. §2) ---
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    lr_schedule: str = "step"
    # MFO supp. §2: x0.1 at epoch 70 of 100 (Kinetics-400); [200] of 300 epochs on UCF-101
    lr_milestones: list[int] = field(default_factory=lambda: [70])
    epochs: int = 100
    batch_size: int = 256  # MFO supp. §2, global

    # what L_aug reverses / shuffles: "features", the low / mid feature maps of the clip (released r3d.py
    # `temporal_shuffle`: torch.flip of the maps); "clips", the input frames, encoded by one more backbone
    # pass. Zero padding in time makes a map's first and last steps differ even on a still clip, so a
    # flipped map is told apart by its edges without any motion; a reversed clip has the same edges
    temporal_negatives_from: Literal["features", "clips"] = "features"

    def method_summary(self) -> str:
        return (
            "MFO (Qian et al., ICCV 2021): instance contrast on low / mid / high features (weights "
            f"{self.level_weights}), "
            f"temporal negatives {self.temporal_negatives} ({'on' if self.use_aug_loss else 'off'}), timestamp "
            f"retrieval {'on' if self.use_ret_loss else 'off'}, {self.num_prototypes} prototypes with a queue of "
            f"{self.queue_size}, graph G_ins from epoch {self.graph_start_epoch};"
        )

    def validate_temporal_negatives(self) -> None:
        unknown = [kind for kind in self.temporal_negatives if kind not in TEMPORAL_TRANSFORMS]
        if unknown or (self.use_aug_loss and not self.temporal_negatives):
            raise ValueError(
                f"temporal_negatives must be a non-empty subset of {list(TEMPORAL_TRANSFORMS)} while "
                f"use_aug_loss is on, got {self.temporal_negatives}"
            )

    def validate_level_weights(self) -> None:
        if len(self.level_weights) != 3:
            raise ValueError(
                f"level_weights must be 3 non-negative weights (low, mid, high), got {self.level_weights}"
            )


__all__ = ["MFOConfig"]
