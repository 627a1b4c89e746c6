"""Configuration of ViCC, cross-stream prototypical contrasting (Toering et al., WACV 2022;
docs/METHODS.md#vicc).

One config describes one training stage: single stream (`cross_stream=False`, stage 1) or one
alternation round of the cross-stream stage (`cross_stream=True`), training `stream` ("rgb" or
"flow"). Stage-dependent defaults (prototype freezing, queue start, epochs) are `None` until
resolved from the stage at construction, so `ViCCConfig(stream="flow")` is ViCC supp.'s Flow-1.
"""

from __future__ import annotations

import typing
from dataclasses import field
from typing import Any, ClassVar, Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ...data.augment import CropSampler
from ...typed_fields import bounds
from ..modeling_pretraining import VsslPretrainingConfig

Stream = Literal["rgb", "flow"]
STREAMS: tuple[str, ...] = typing.get_args(Stream)
RGB_CHANNELS = 3


@strict
class ViCCConfig(VsslPretrainingConfig):
    """ViCC on any backbone (S3D by default; the compact R(2+1)D and R3D-18 of ViCC supp. Table 3)."""

    model_type = "vssl-vicc"
    # ViCC supp. Table 3: S3D (8.8M) is the main backbone; R(2+1)D (variant "compact") and R3D also reported
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "backbone_config": SubConfigSpec(config_class=AutoConfig, model_type="vssl-s3d"),
    }
    # fields whose default depends on the stage; `for_round` resets them for each cross-stream round
    stage_fields: ClassVar[tuple[str, ...]] = ("freeze_prototypes_epochs", "queue_start_epoch", "epochs")

    # --- stage ---
    stream: Stream = "rgb"  # the stream trained in this stage (ViCC-RGB-* or ViCC-Flow-*)
    cross_stream: bool = False  # stage 2: the other stream, frozen, joins the swapped prediction
    # released code: flow frames are 3-channel images (128, v, u) fed to a 3-channel backbone;
    # 2 keeps only (v, u)
    flow_channels: Literal[3, 2] = 3

    # --- heads and swapped prediction (ViCC supp. §2.1) ---
    # released model: 1x1x1 conv F->F, ReLU, 1x1x1 conv F->128 (moco-dim 128)
    projection_dim: int = field(default=128, metadata=bounds(ge=1))
    # docs/METHODS.md#vicc / released --nmb_prototypes 300 (ViCC supp. §3.1.2 uses 101 for table 1)
    num_prototypes: int = field(default=300, metadata=bounds(ge=1))
    temperature: float = field(default=0.1, metadata=bounds(gt=0))  # ViCC supp. §2.1: tau 0.1
    sinkhorn_epsilon: float = field(default=0.05, metadata=bounds(gt=0))  # ViCC supp. §2.1: eps 0.05
    sinkhorn_iterations: int = field(default=3, metadata=bounds(ge=1))  # ViCC supp. §2.1: 3 iterations
    # ViCC supp. §2.1: prototypes frozen for the first 100 epochs of a single stream, trained from the start
    # in the cross-stream stage (None: 100 / 0 by stage)
    freeze_prototypes_epochs: int | None = field(default=None, metadata=bounds(ge=0))
    # ViCC supp. §2.2: 1920 = the last 10 global batches of 192 (0: no queue)
    queue_size: int = field(default=1920, metadata=bounds(ge=0))
    # ViCC supp. §2.2: the queue starts at epoch 150 (RGB-1), 200 (Flow-1), 25 of each cross-stream
    # alternation (None: by stage); it is filled from then on and used once full, as the released code
    queue_start_epoch: int | None = field(default=None, metadata=bounds(ge=0))
    # the released code encodes the second clip of the trained stream without gradient, shuffled
    # across processes (MoCo batch shuffle), when SyncBN is off; ViCC supp.'s pseudocode back-propagates
    # through both clips (the default)
    second_clip_no_grad: bool = False
    batch_shuffle: bool = False  # needs second_clip_no_grad; does something only with > 1 process

    # --- views (ViCC supp. §2.1, released main_*.py; the shared fields of VsslPretrainingConfig) ---
    num_frames: int = 32  # ViCC supp. Table 3: 32 frames for S3D (16 for R(2+1)D and R3D)
    crop_size: int = 128  # ViCC supp. Table 3: 128 px
    crop_scale: list[float] | None = field(default_factory=lambda: [0.2, 1.0])  # released bottom_area 0.2
    # released base_transform: ColorJitter(0.4, 0.4, 0.4, 0.1) with p 0.8, RandomGray p 0.2, blur p 0.5
    color_jitter: list[float] = field(default_factory=lambda: [0.4, 0.4, 0.4, 0.1])
    color_jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    # released TransformController: with p 0.5 both views come from one clip (one strong, one weak view),
    # else each clip is strong with p 0.3; one_clip_p=0 and strong_p=1 give two fully augmented clips
    one_clip_p: float = field(default=0.5, metadata=bounds(ge=0, le=1))
    strong_p: float = field(default=0.3, metadata=bounds(ge=0, le=1))
    # released main_single.py / main_cross.py: RandomSizedCrop(consistent=False, seq_len): ONE draw (aspect
    # uniform, w / h swapped with p 0.5), the whole frame squashed when it misses; "torchvision": 10 draws
    crop_sampler: CropSampler = "single_draw"
    # released utils/augmentation.py RandomGray.grayscale: np.random.choice(3) per frame; False: per clip
    grayscale_channel_per_frame: bool = True
    # released main_single.py / main_cross.py: flow frames get the same base transform as RGB (jitter, grey,
    # blur), and in stage 2 a clip's RGB and flow frames are one sequence sharing every parameter
    # (lmdb_dataset.py UCF101_2STREAM_LMDB_2CLIP); False: flow gets crop and flip only
    flow_colour_augment: bool = True

    # --- optimisation recipe (ViCC supp. §2.1) ---
    optimizer: str = "lars"  # SGD momentum 0.9 wrapped in LARS (trust 0.001, no clipping)
    learning_rate: float = 0.6
    final_lr: float = 0.0006  # per-iteration cosine decay to 6e-4
    lr_schedule: str = "cosine"
    weight_decay: float = 1e-6
    batch_size: int = 192  # ViCC supp. §2.2: 48 per GPU x 4 GPUs
    # None: 300 for a single stream (ViCC supp. §3.2: RGB-2 = stage 1 + two 100-epoch RGB rounds = 500
    # epochs), 100 per cross-stream alternation (docs/METHODS.md#vicc)
    epochs: int | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        # a backbone given without in_channels gets the trained stream's channel count
        if isinstance(self.backbone_config, dict) and "in_channels" not in self.backbone_config:
            self.backbone_config = {**self.backbone_config, "in_channels": self.stream_channels(self.stream)}
        default_backbone = self.backbone_config is None
        super().__post_init__(**kwargs)
        if default_backbone and self.stream in STREAMS:
            self.backbone_config.in_channels = self.stream_channels(self.stream)
        if self.freeze_prototypes_epochs is None:
            self.freeze_prototypes_epochs = 0 if self.cross_stream else 100
        if self.queue_start_epoch is None:
            self.queue_start_epoch = 25 if self.cross_stream else (150 if self.stream == "rgb" else 200)
        if self.epochs is None:
            self.epochs = 100 if self.cross_stream else 300

    def method_summary(self) -> str:
        stage = "cross-stream stage (the other stream frozen)" if self.cross_stream else "single-stream stage"
        return (
            f"ViCC (Toering et al., WACV 2022), {self.stream} stream, {stage}: swapped prediction between "
            "two clips over "
            f"{self.num_prototypes} prototypes (tau {self.temperature:g}, Sinkhorn eps {self.sinkhorn_epsilon:g} x "
            f"{self.sinkhorn_iterations}), prototypes frozen for {self.freeze_prototypes_epochs} epochs, a queue of "
            f"{self.queue_size} from epoch {self.queue_start_epoch};"
        )

    @property
    def modality(self) -> str:
        return self.stream

    @property
    def other_stream(self) -> str:
        return "flow" if self.stream == "rgb" else "rgb"

    @property
    def streams(self) -> tuple[str, ...]:
        """The streams a sample must provide: the trained one, and the frozen one in stage 2."""
        return (self.stream, self.other_stream) if self.cross_stream else (self.stream,)

    @property
    def num_views(self) -> int:
        """Views scored against the prototypes: 2 clips per stream."""
        return 2 * len(self.streams)

    def stream_channels(self, stream: str) -> int:
        return RGB_CHANNELS if stream == "rgb" else self.flow_channels

    def frozen_backbone_config(self) -> PreTrainedConfig:
        """The frozen stream's backbone: the trained one's architecture with the other stream's channels."""
        values = {**self.backbone_config.to_dict(), "in_channels": self.stream_channels(self.other_stream)}
        values["pretraining"] = None
        return type(self.backbone_config).from_dict(values)

    def validate_backbone_channels(self) -> None:
        wanted = self.stream_channels(self.stream)
        if self.backbone_config.in_channels != wanted:
            raise ValueError(
                f"backbone_config.in_channels is {self.backbone_config.in_channels} but the trained stream "
                f"'{self.stream}' has {wanted} channels; set backbone_config.in_channels={wanted} (or flow_channels)"
            )

    def validate_batch_shuffle(self) -> None:
        if self.batch_shuffle and not self.second_clip_no_grad:
            raise ValueError(
                "batch_shuffle shuffles the no-gradient encoding of the second clip; set second_clip_no_grad=True"
            )


__all__ = ["ViCCConfig"]
