"""Configuration of Pace Prediction (Wang et al., ECCV 2020; docs/METHODS.md#pace-prediction).

Every pace configuration of Pace Prediction supp. Tables 1-4 is a value of `paces` + `backward_mode`; the
named rows are in `SEED_003_CONFIGURATIONS`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from fractions import Fraction
from typing import Any, ClassVar, Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig
from transformers.configuration_utils import SubConfigSpec

from ...data.processor import VsslVideoProcessor
from ...data.samplers import EndPolicy
from ...typed_fields import bounds
from ..modeling_pretraining import VsslPretrainingConfig

BackwardMode = Literal["none", "random", "signed"]
ContrastiveMode = Literal["none", "same_context", "same_pace"]
InputFormat = Literal["bgr_255", "rgb_imagenet"]
MAX_PACE_DENOMINATOR = 64  # slow paces are 1/k: 0.333... means 1/3

# Pace Prediction supp. Tables 1-4: row -> PaceConfig fields (table 2/3/4's baseline is [1, 2, 3, 4])
SEED_003_CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "table1-p1-3": {"paces": [1, 2, 3]},
    "table1-p1-4": {"paces": [1, 2, 3, 4]},
    "table1-p1-5": {"paces": [1, 2, 3, 4, 5]},
    "table1-p1-6": {"paces": [1, 2, 3, 4, 5, 6]},
    "table2-baseline": {"paces": [1, 2, 3, 4]},
    "table2-slow": {"paces": [1 / 4, 1 / 3, 1 / 2, 1]},
    "table2-slow-fast": {"paces": [1 / 3, 1 / 2, 1, 2, 3]},
    "table3-step1": {"paces": [1, 2, 3, 4]},
    "table3-step2": {"paces": [1, 3, 5, 7]},
    "table3-step3": {"paces": [1, 4, 7, 10]},
    "table4-baseline": {"paces": [1, 2, 3, 4]},
    "table4-random-backwards": {"paces": [1, 2, 3, 4], "backward_mode": "random"},
    "table4-backwards-8-classes": {"paces": [1, 2, 3, 4], "backward_mode": "signed"},
}


@strict
class PaceConfig(VsslPretrainingConfig):
    """Pace prediction on any backbone (the compact R(2+1)D by default; C3D, R3D, S3D-G)."""

    model_type = "vssl-pace"
    # Pace Prediction supp. / ViCC supp. Table 3: Pace Pred's R(2+1)D is the 14.4M compact one of VCOP
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "backbone_config": SubConfigSpec(
            config_class=AutoConfig, model_type="vssl-r2plus1d", init_kwargs={"variant": "compact"}
        ),
    }

    # --- pretext task (Pace Prediction supp. Tables 1-4) ---
    # label = index in `paces`; floats < 1 are slow paces 1/k (frames repeated k times)
    # Pace Prediction supp. Tables 2-4: the baseline
    paces: list[float] = field(default_factory=lambda: [1, 2, 3, 4])
    # "random": each clip reversed with p 0.5, label unchanged (table 4, 4 classes); "signed": +-p are
    # different classes (table 4, 8 classes: paces then their negatives)
    backward_mode: BackwardMode = "none"
    # docs/METHODS.md#pace-prediction: the original wraps to the first frame; "loop" / "clamp"
    end_policy: EndPolicy = "wrap"
    start_anywhere: bool = True  # the original draws the start over the whole video (then wraps)

    # --- loss (Pace Prediction supp. §3, algorithms 1 and 2) ---
    # "same_context": two clips of a video at two different paces are positives (algorithm 1);
    # "same_pace": clips with the same pace label are positives (algorithm 2); "none": L_cls only
    contrastive: ContrastiveMode = "same_context"
    # docs/METHODS.md#pace-prediction: L = lambda_cls L_cls + lambda_ctr L_ctr, default 1, 1
    lambda_cls: float = field(default=1.0, metadata=bounds(ge=0))
    lambda_ctr: float = field(default=1.0, metadata=bounds(ge=0))
    # Pace Prediction supp. algorithms: exp(sim(z_i, z_j)), sim the dot product of the (here L2-normalised)
    # pooled features, with no temperature: tau 1 (our reading; the release has no contrastive code, and its
    # author calls it "similar to SimCLR", laura-wang/video-pace issue #4: SimCLR uses tau 0.1-0.5)
    contrastive_temperature: float = field(default=1.0, metadata=bounds(gt=0))
    # SimCLR-style projection head g (Linear F->F, ReLU, Linear F->dim) between the pooled features
    # and the contrastive term; 0: none, the algorithms' z = f(x) (our reading, see above)
    contrastive_projection_dim: int = field(default=0, metadata=bounds(ge=0, why="0: no projection head"))

    # --- views (docs/METHODS.md#pace-training: 16-frame clips, resize 128x171, random crop 112) ---
    crop_scale: list[float] | None = None  # a fixed 112 crop at a random position, no resize
    color_jitter: list[float] = field(default_factory=lambda: [0.8, 0.8, 0.8, 0.2])  # per-frame jitter
    color_jitter_p: float = 0.8
    # released datasets/ucf101.py: frames read by cv2.imread (BGR, 0-255), jittered by torchvision as if
    # RGB, fed without rescaling or normalisation ("bgr_255", what converted Pace weights expect);
    # "rgb_imagenet": RGB in [0, 1] normalised with the ImageNet mean / std
    input_format: InputFormat = "bgr_255"

    # --- optimisation recipe (docs/METHODS.md#pace-training) ---
    optimizer: str = "sgd"
    learning_rate: float = 1e-3
    weight_decay: float = 5e-3
    lr_schedule: str = "step"
    lr_milestones: list[int] = field(default_factory=lambda: [6, 12])  # x0.1 every 6 epochs
    epochs: int = 18
    # released datasets/ucf101.py: `self.rgb_lines = list(lines) * 10`, so one epoch is 10 passes over
    # the videos: UCF-101 split 1 (9537 videos) x 10 / 30 x 18 epochs = 57222 iterations, lr drops at
    # 19074 and 38148 (~1/3, ~2/3); 1 makes an epoch one pass
    epoch_repeats: int = 10
    batch_size: int = 30

    def method_summary(self) -> str:
        paces = ", ".join(str(p) for p in self.pace_fractions)
        return (
            f"Pace prediction (Wang et al., ECCV 2020): paces [{paces}] (backward mode "
            f"{self.backward_mode}), cross-entropy on "
            f"the pace plus the '{self.contrastive}' contrastive term (lambda {self.lambda_cls:g}, {self.lambda_ctr:g});"
        )

    def video_processor(self) -> VsslVideoProcessor:
        """The shared test clips, fed in this config's `input_format` (the release's raw 0-255 BGR by
        default), so evaluation gives the network what it trained on."""
        processor = super().video_processor()
        if self.input_format == "bgr_255":
            return dataclasses.replace(processor, channel_order="bgr", do_rescale=False, do_normalize=False)
        return processor

    @property
    def pace_fractions(self) -> list[Fraction]:
        """`paces` as exact fractions (0.333... -> 1/3)."""
        return [Fraction(p).limit_denominator(MAX_PACE_DENOMINATOR) for p in self.paces]

    @property
    def num_classes(self) -> int:
        return len(self.paces) * (2 if self.backward_mode == "signed" else 1)

    @property
    def clips_per_video(self) -> int:
        """Algorithm 1 contrasts two clips of each video at different paces; otherwise one clip."""
        return 2 if self.contrastive == "same_context" else 1

    @property
    def compares_batch_samples(self) -> bool:
        """Only algorithm 1 treats other videos' clips as negatives ("same_pace" contrasts pace labels)."""
        return self.contrastive == "same_context"

    def validate_paces(self) -> None:
        fractions = self.pace_fractions
        if len(fractions) < 2 or any(p <= 0 for p in fractions) or len(set(fractions)) != len(fractions):
            raise ValueError(
                f"paces must be >= 2 distinct positive numbers (e.g. [1, 2, 3, 4]), got {self.paces}"
            )

    def validate_loss_weights(self) -> None:
        if self.lambda_cls + self.lambda_ctr == 0:
            raise ValueError(
                f"lambda_cls and lambda_ctr must not both be 0, got {self.lambda_cls}, {self.lambda_ctr}"
            )


__all__ = ["SEED_003_CONFIGURATIONS", "PaceConfig"]
