"""The demo recipes: what `hf-vssl demo` trains and tests and how it reads the result, as data beside the zoo.

The zoo presets (`zoo.ZOO`) are the papers' runs; these are their CPU-sized cousins on the synthetic two-label
set (`hf-vssl synth --preset two-label-*`), one per method, every departure from the paper's recipe written
beside it. `cli/demo.py` runs them through the helpers of `hf-vssl pretrain`, `probe` and `retrieve`;
`benchmarks/bench_learning.py` and `benchmarks/bench_step.py` read them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..methods import VsslPretrainingConfig, build_method_config

DEMO_METHOD = "pace"
DEMO_DATASET = "two-label-small"  # 240 training and 80 test videos
DEMO_DATASETS = (
    "tiny",
    "small",
    "two-label-tiny",
    "two-label-small",
    "two-label-order-small",
)  # tiny / small: motion only
# label -> dataset column of the two-label synthetic set (`label` is the motion class, as UCF-101's folders)
AXES = {"motion": "label", "appearance": "appearance_label"}
# Every method on the same backbone and clip, tuned so that a 2-core CPU learns in minutes: a narrow C3D (Pace
# Prediction's own backbone family; in such short runs C3D learns the pace task where an R3D of the same cost
# stays at chance), 8-frame clips cropped to 64 px from 72x96 frames (the papers: 16-32 frames, 112-128 px).
DEMO_BACKBONE = "c3d"
DEMO_BACKBONE_CONFIG: dict[str, Any] = {"width_multiplier": 0.125}
DEMO_CLIP: dict[str, Any] = {"num_frames": 8, "crop_size": 64, "frame_size": [72, 96]}
DEMO_EVAL_STRIDE = 3  # test clips of 8 frames every 3rd frame: the motion of ~1 s of video
DEMO_RETRIEVAL_KS = (1, 5)
DEMO_METRICS = ("probe top1", "R@1", "R@5")  # the columns of each label in the table
# ViCC's released flow is TV-L1 (`hf-vssl extract-flow` default); Farneback takes seconds per video on a CPU
DEMO_FLOW_METHOD = "farneback"


@dataclass(frozen=True)
class DemoRecipe:
    """One method's demo run: what it should learn and where it departs from its paper's recipe."""

    method: str  # the registered method trained
    learns: tuple[str, ...]  # the labels (AXES) the demo must beat the random init on
    config: dict[str, Any] = field(default_factory=dict)  # method config overrides (beside DEMO_CLIP)
    epochs: int = 10

    def __post_init__(self) -> None:
        unknown = set(self.learns) - set(AXES)
        if not self.learns or unknown:
            raise ValueError(f"DemoRecipe.learns names labels of {list(AXES)}, got {self.learns}")
        if self.epochs < 1:
            raise ValueError(f"DemoRecipe.epochs must be >= 1, got {self.epochs}")

    @property
    def stream(self) -> str:
        """The input stream trained and tested: "flow" reads the flow videos of `hf-vssl extract-flow`."""
        return self.config.get("stream", "rgb")

    def build_config(self, epochs: int | None = None) -> VsslPretrainingConfig:
        """The method config of this recipe's run (`hf-vssl pretrain`'s builder) for `epochs` (None: its own)."""
        return build_method_config(
            self.method,
            DEMO_BACKBONE,
            backbone_overrides=DEMO_BACKBONE_CONFIG,
            overrides={**DEMO_CLIP, **self.config, "epochs": self.epochs if epochs is None else epochs},
        )


# Departures from each paper's recipe for ~100-200 steps of batch 16 (the papers train 18-300 epochs of
# UCF-101 or Kinetics-400 at batch 30-256): Adam with a cosine schedule (every paper's own step or LARS schedule has
# no step to act within such a run), one pass over the videos per epoch (`epoch_repeats`), schedules that
# start inside the run, and queues / prototype counts sized for 240 training videos.
# ViCC stage 1 (ViCC supp.): Adam 1e-3 instead of LARS 0.6 at batch 192, prototypes trained from epoch 1 (ViCC
# supp. §2.1: frozen for 100 epochs), no queue (from epoch 150), 50 prototypes for 240 videos (released 300)
VICC_DEMO: dict[str, Any] = {
    "batch_size": 16,
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "weight_decay": 1e-5,
    "final_lr": 0.0,
    "num_prototypes": 50,
    "freeze_prototypes_epochs": 1,
    "queue_size": 0,
}
DEMO_RECIPES: dict[str, DemoRecipe] = {
    # Pace Prediction with its step-2 pace set [1, 3, 5, 7] (Pace Prediction supp. Table 3, its best row):
    # the baseline set [1, 2, 3, 4] is too fine for the synthetic motion (0.5-1.2 px per frame at 72x96): one
    # init seed in three stayed at chance for all 10 epochs, [1, 3, 5, 7] learned from every seed tried (0-3).
    # No colour jitter (per-frame flicker drowns the motion signal of 150 steps), no contrastive term (it pulls
    # the two clips of a video together by appearance), clips start where they fit without wrapping around.
    "pace": DemoRecipe(
        method="pace",
        learns=("motion",),
        config={
            "paces": [1, 3, 5, 7],
            "batch_size": 16,
            "epoch_repeats": 1,  # the release repeats its video list 10x per epoch (datasets/ucf101.py)
            "optimizer": "adam",
            "learning_rate": 3e-3,
            "weight_decay": 1e-4,
            "lr_schedule": "cosine",
            "lambda_ctr": 0.0,
            "color_jitter_p": 0.0,
            "start_anywhere": False,
            # the probe reads clips through the exported processor (RGB, ImageNet mean / std), so train on
            # them too instead of the release's raw BGR 0-255
            "input_format": "rgb_imagenet",
        },
    ),
    # MFO: the graph stage starts at epoch 3 of 10 (released --split 20 of 100 epochs, 50 of 300 on UCF-101),
    # 50 prototypes for 240 videos (docs/METHODS.md: 200 for UCF-101's 9.5k), no queue (released: from
    # epoch 10 on, never reached here)
    "mfo": DemoRecipe(
        method="mfo",
        learns=("motion",),
        config={
            "batch_size": 16,
            # MFO supp.: 1e-3 for 100-300 epochs; 3e-3 as the Pace demo (gave MFO more appearance, no motion
            # either way: L_high stays at chance, ln(2B - 1), through the 150 steps)
            "learning_rate": 3e-3,
            "lr_schedule": "cosine",
            # the released train.py: every term but L_mul before the graph stage (MFO supp.: L_high only), so
            # the reversed / shuffled negatives of L_aug, MFO's motion signal, act from the first step
            "stage_one_high_only": False,
            "num_prototypes": 50,
            "queue_size": 0,
            "graph_start_epoch": 3,
            # MFO supp. Table 3's row without L_ret: C3D's conv5 keeps one time step of an 8-frame clip, and
            # timestamp retrieval needs two or more
            "use_ret_loss": False,
        },
    ),
    # SDC: 20 + 20 concepts for 240 videos (SDC supp. Tables 2-3: 50 + 50 for UCF-101) matched top-2, a queue
    # of 8 batches (released: 1024 scores), local matching from epoch 2 (SDC supp. §1: 5; the release: 10);
    # 5 epochs, as SDC encodes 6 clips per video (v1, v2, s1, s2, d1, d2) where Pace and MFO encode 2
    "sdc": DemoRecipe(
        method="sdc",
        learns=("motion", "appearance"),
        config={
            "batch_size": 16,
            "lr_schedule": "cosine",
            "num_static_concepts": 20,
            "num_dynamic_concepts": 20,
            "queue_size": 128,
            "local_start_epoch": 2,
            "top_k": 2,  # SDC supp. Table 3: the top 10% of the concepts (5 of 50)
        },
        epochs=5,
    ),
    "vicc": DemoRecipe(method="vicc", learns=("appearance",), config=VICC_DEMO),
    # ViCC-Flow stage 1: the same recipe on Farneback flow videos (DEMO_FLOW_METHOD), without the released
    # colour jitter / grey / blur of the flow images: hue and grey shift the (u, v) values that spell out the
    # direction of motion
    "vicc-flow": DemoRecipe(
        method="vicc",
        learns=("motion",),
        config={**VICC_DEMO, "stream": "flow", "flow_colour_augment": False},
    ),
}


@dataclass(frozen=True)
class DemoVerdict:
    """When the demo says a pretrained backbone beats the random init on a label: on every one of `metrics`
    it is not worse by more than `margin`, and on one it is better by more than `margin`. A difference
    within the margin is a tie: two runs of a network that learned nothing differ by that much."""

    metrics: tuple[str, ...] = ("probe top1", "R@1")
    # The seed-to-seed spread of a network that learned nothing, measured: the random init's std over init
    # seeds 0-2 on the demo's set (`benchmarks/bench_learning.py --seeds 0 1 2` on two-label-small, which
    # prints this derivation), RMS-pooled over its 8 cells (RGB: 5.2, 1.4, 3.1, 8.1; flow: 3.1, 2.9, 2.6, 5.1
    # points) = 4.4 points; the difference of two such runs spreads sqrt(2) x 4.4 = 6.2 points (a fraction of
    # the test videos: 5 of two-label-small's 80; a win by 1-4 videos is a tie). On the README's benchmark set,
    # two-label-order-small, the same pooling gives 5.4 -> 7.7 points.
    margin: float = 0.062

    def __post_init__(self) -> None:
        if not self.metrics:
            raise ValueError("DemoVerdict.metrics must name at least one metric of DEMO_METRICS")
        unknown = set(self.metrics) - set(DEMO_METRICS)
        if unknown:
            raise ValueError(f"DemoVerdict.metrics must be among {DEMO_METRICS}, got {sorted(unknown)}")
        if not 0.0 <= self.margin < 1.0:
            raise ValueError(
                f"DemoVerdict.margin is a fraction of the test videos in [0, 1), got {self.margin}"
            )

    def beats(self, pretrained: dict[str, float], random_init: dict[str, float], axis: str) -> bool:
        """`pretrained` beats `random_init` on `axis` (rows of "<axis> <metric>" fractions)."""
        gains = [pretrained[f"{axis} {m}"] - random_init[f"{axis} {m}"] for m in self.metrics]
        return all(gain >= -self.margin for gain in gains) and any(gain > self.margin for gain in gains)

    def describe(self) -> str:
        """The rule in words, for the demo's printout."""
        return (
            f"not worse by more than {100 * self.margin:.1f} points on {' and '.join(self.metrics)}, "
            "better by more on one"
        )


DEMO_VERDICT = DemoVerdict()
