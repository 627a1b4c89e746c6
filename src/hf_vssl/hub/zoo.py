"""The model zoo: every named preset in one table (timm's `default_cfgs`).

Scripts, model cards, the CLI and tests read `ZOO`; nothing else lists presets. A preset names the
backbone configuration, the pretext method and recipe that train it, the clip size it expects, the
original release a converter reads, and the numbers its paper reports, each with the supplementary table it
comes from. The paper's numbers are never presented as measured here: measured results are passed
to the card renderer separately (`hf_vssl.hub.cards`).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from ..typed_fields import coerce_value

Task = Literal["linear-probe", "finetune", "retrieval"]
TASKS: tuple[str, ...] = typing.get_args(Task)
# dataset ids used in results and card metadata -> display names
DATASETS: dict[str, str] = {
    "ucf101": "UCF-101",
    "hmdb51": "HMDB-51",
    "kinetics400": "Kinetics-400",
    "diving48": "Diving-48",
}


@dataclass(frozen=True)
class Result:
    """One downstream number: top-1 accuracy (%) for probe / finetune, recall R@k (%) for retrieval.

    source: where it comes from, e.g. "ViCC supp. Table 3" for a paper's number or
        "hf-vssl evaluate, 2025-01-01" for a measured one.
    pretrain_dataset: what the weights were pretrained on, or "not stated" when the source is silent.
    """

    task: Task
    dataset: str
    metric: str
    value: float
    source: str
    pretrain_dataset: str
    note: str = ""

    def __post_init__(self) -> None:
        coerce_value("Result.task", self.task, Task)  # one of the Literal's tasks, or an error naming them
        if self.dataset not in DATASETS:
            raise ValueError(f"Result.dataset must be one of {list(DATASETS)}, got {self.dataset!r}")
        expected = ("R@",) if self.task == "retrieval" else ("top-1", "top-5")
        if not self.metric.startswith(expected):
            raise ValueError(
                f"Result.metric of a {self.task} result must start with {expected}, got {self.metric!r}"
            )
        if not 0.0 <= self.value <= 100.0:
            raise ValueError(f"Result.value is a percentage in [0, 100], got {self.value}")


@dataclass(frozen=True)
class Paper:
    """The paper behind a method: `method_title` names the method in cards and tables.

    license: the Hub license id of the authors' code release (read from its LICENSE file), which
        converted weights follow; "other" when the release has no LICENSE file (`license_note` says so).
    """

    method_title: str
    title: str
    url: str
    code_url: str
    license: str
    license_note: str = ""


NO_LICENSE_FILE = "the release has no LICENSE file: ask the authors before redistributing"


VICC = Paper(
    "ViCC, cross-stream prototypical contrasting",
    "Self-supervised Video Representation Learning with Cross-Stream Prototypical Contrasting (WACV 2022)",
    "https://arxiv.org/abs/2106.10137",
    "https://github.com/martinetoering/ViCC",
    "cc-by-nc-4.0",  # ViCC's LICENSE: Attribution-NonCommercial 4.0 International
)
PACE = Paper(
    "Pace prediction",
    "Self-supervised Video Representation Learning by Pace Prediction (ECCV 2020)",
    "https://arxiv.org/abs/2008.05861",
    "https://github.com/laura-wang/video-pace",
    "other",
    NO_LICENSE_FILE,
)
MFO = Paper(
    "Multi-level feature optimisation",
    "Enhancing Self-supervised Video Representation Learning via Multi-level Feature Optimization (ICCV 2021)",
    "https://arxiv.org/abs/2108.02183",
    "https://github.com/shvdiwnkozbw/Video-Representation-via-Multi-level-Optimization",
    "other",
    NO_LICENSE_FILE,
)
SDC = Paper(
    "Static and dynamic concepts",
    "Static and Dynamic Concepts for Self-supervised Video Representation Learning (ECCV 2022)",
    "https://arxiv.org/abs/2207.12795",
    "https://github.com/shvdiwnkozbw/Self-supervised-Video-Concept",
    "other",
    NO_LICENSE_FILE,
)


@dataclass(frozen=True)
class Preset:
    """A named model: what `vssl/<name>` on the Hub holds, and the run that trains it.

    backbone_kwargs: fields of the backbone config (`AutoConfig.for_model(backbone_type, **kwargs)`),
        as a tuple of pairs so the preset stays hashable.
    method_config: fields of the method config that differ from the method's defaults (clip geometry,
        stream, concept counts, pace set...), as pairs; `hf_vssl.methods.build_method_config(preset=...)`
        applies them over the method's defaults, and the backbone.
    convert_from: the `hf-vssl convert --from` layout of the authors' released weights, or None when
        there is no release to convert.
    Everything a card says about the recipe, clip and stream is read from `config`.
    """

    name: str
    method: str
    backbone_type: str
    backbone_kwargs: tuple[tuple[str, Any], ...]
    backbone_title: str
    method_config: tuple[tuple[str, Any], ...]
    pretrain_dataset: str
    paper: Paper
    convert_from: str | None = None
    reported: tuple[Result, ...] = ()

    @property
    def repo_id(self) -> str:
        return f"vssl/{self.name}"

    def backbone_config(self, **overrides: Any):
        """A fresh backbone config of this preset (`overrides` e.g. width_multiplier=0.125 for tests)."""
        from transformers import AutoConfig

        from .. import models  # noqa: F401  (registers the model types)

        return AutoConfig.for_model(self.backbone_type, **{**dict(self.backbone_kwargs), **overrides})

    @cached_property
    def config(self):
        """The method config of this preset's run as published (`hf_vssl.methods.build_method_config`)."""
        from ..methods import build_method_config

        return build_method_config(preset=self)

    @property
    def modality(self) -> str:
        return self.config.modality

    @property
    def num_frames(self) -> int:
        return self.config.num_frames

    @property
    def crop_size(self) -> int:
        return self.config.crop_size


def _results(
    source: str,
    pretrain_dataset: str,
    task: Task,
    ucf101: float,
    hmdb51: float,
    note: str = "",
) -> tuple[Result, Result]:
    """The UCF-101 / HMDB-51 top-1 pair most tables report."""
    return (
        Result(task, "ucf101", "top-1", ucf101, source, pretrain_dataset, note),
        Result(task, "hmdb51", "top-1", hmdb51, source, pretrain_dataset, note),
    )


FUSED = "ViCC-R+F: late fusion of this preset with its other stream (two-stream)"
SDC_TABLE4 = (
    "SDC supp. Table 4 does not name the protocol; its CVRL row (92.9 / 67.9) is CVRL's finetune result"
)
SDC_TABLE1 = (
    "ablation default (sigma = identity, K = 5, shared encoder); the supplement names neither backbone nor "
    "pretraining set, its 512x2x7x7 maps fit R(2+1)D-18 at 112 px"
)

ZOO: tuple[Preset, ...] = (
    Preset(
        name="vicc-s3d",
        method="vicc",
        backbone_type="vssl-s3d",
        backbone_kwargs=(("gating", False),),
        backbone_title="S3D (CoCLR layout)",
        method_config=(
            ("num_frames", 32),
            ("crop_size", 128),
        ),  # ViCC supp. Table 3: S3D rows, 32 frames at 128 px
        pretrain_dataset="ucf101",
        paper=VICC,
        convert_from="vicc",
        reported=(
            *_results("ViCC supp. Table 3", "ucf101", "linear-probe", 72.2, 38.5),
            *_results("ViCC supp. Table 3", "ucf101", "finetune", 84.3, 47.9),
            *_results("ViCC supp. Table 3", "ucf101", "linear-probe", 78.0, 47.9, FUSED),
            *_results("ViCC supp. Table 3", "ucf101", "finetune", 90.5, 62.2, FUSED),
        ),
    ),
    Preset(
        name="vicc-flow-s3d",
        method="vicc",
        backbone_type="vssl-s3d",
        backbone_kwargs=(("gating", False),),
        backbone_title="S3D (CoCLR layout)",
        # ViCC supp. Table 3: Flow
        method_config=(("stream", "flow"), ("num_frames", 32), ("crop_size", 128)),
        pretrain_dataset="ucf101",
        paper=VICC,
        convert_from="vicc",
        reported=(
            *_results("ViCC supp. Table 3", "ucf101", "linear-probe", 78.0, 47.9, FUSED),
            *_results("ViCC supp. Table 3", "ucf101", "finetune", 90.5, 62.2, FUSED),
        ),
    ),
    Preset(
        name="vicc-r21d",
        method="vicc",
        backbone_type="vssl-r2plus1d",
        backbone_kwargs=(("variant", "compact"),),
        backbone_title="R(2+1)D, VCOP's compact form (blocks [1,1,1,1])",
        method_config=(
            ("num_frames", 16),
            ("crop_size", 128),
        ),  # ViCC supp. Table 3: R(2+1)D rows, 16 frames at 128 px
        pretrain_dataset="ucf101",
        paper=VICC,
        convert_from="vicc",
        reported=(
            *_results("ViCC supp. Table 3", "ucf101", "linear-probe", 74.4, 30.8),
            *_results("ViCC supp. Table 3", "ucf101", "finetune", 82.8, 52.4),
            *_results("ViCC supp. Table 3", "ucf101", "linear-probe", 78.3, 45.2, FUSED),
            *_results("ViCC supp. Table 3", "ucf101", "finetune", 88.8, 61.5, FUSED),
        ),
    ),
    Preset(
        name="vicc-r3d",
        method="vicc",
        backbone_type="vssl-r3d",
        backbone_kwargs=(("depth", 10), ("stem", "torchvision")),
        backbone_title="R3D, VCOP's form (blocks [1,1,1,1])",
        method_config=(
            ("num_frames", 16),
            ("crop_size", 128),
        ),  # ViCC supp. Table 3: R3D rows, 16 frames at 128 px
        pretrain_dataset="ucf101",
        paper=VICC,
        convert_from=None,  # the ViCC release ships S3D and R(2+1)D code only
        reported=(
            *_results("ViCC supp. Table 3", "ucf101", "linear-probe", 69.0, 44.2),
            *_results("ViCC supp. Table 3", "ucf101", "finetune", 78.2, 44.7),
            *_results("ViCC supp. Table 3", "ucf101", "linear-probe", 73.3, 46.7, FUSED),
            *_results("ViCC supp. Table 3", "ucf101", "finetune", 85.7, 53.2, FUSED),
        ),
    ),
    Preset(
        name="pace-r21d",
        method="pace",
        backbone_type="vssl-r2plus1d",
        backbone_kwargs=(("variant", "compact"),),
        backbone_title="R(2+1)D, VCOP's compact form (blocks [1,1,1,1])",
        # Pace Prediction supp. / docs/METHODS.md#pace-prediction: the method defaults (16 x 112 x 112)
        method_config=(),
        pretrain_dataset="ucf101",
        paper=PACE,
        convert_from="pace",
        reported=(
            *_results("ViCC supp. Table 3 (Pace Pred row)", "ucf101", "finetune", 75.9, 35.9),
            *_results("ViCC supp. Table 3 (Pace Pred row)", "kinetics400", "finetune", 77.1, 36.6),
            Result(
                "finetune",
                "ucf101",
                "top-1",
                74.9,
                "Pace Prediction supp. Table 3",
                "not stated",
                "pace step 2, paces [1,3,5,7]; the supplement does not name the backbone",
            ),
        ),
    ),
    Preset(
        name="pace-c3d",
        method="pace",
        backbone_type="vssl-c3d",
        backbone_kwargs=(),
        backbone_title="C3D with BN (VCOP / Pace Prediction form)",
        method_config=(),
        pretrain_dataset="ucf101",
        paper=PACE,
        convert_from="pace",
    ),
    Preset(
        name="pace-s3dg",
        method="pace",
        backbone_type="vssl-s3d",
        backbone_kwargs=(("gating", True),),
        backbone_title="S3D-G (S3D with feature gating)",
        method_config=(
            ("num_frames", 64),  # ViCC supp. Table 3: Pace Pred S3D-G row, 64 frames at 224 px
            ("crop_size", 224),
            ("frame_size", (256, 256)),  # release train.py: frames resized to 256 x 256, random 224 crop
        ),
        pretrain_dataset="ucf101",
        paper=PACE,
        convert_from=None,  # the release's s3d_g.py has a layout of its own, not converted here
        reported=_results("ViCC supp. Table 3 (Pace Pred row)", "ucf101", "finetune", 87.1, 52.6),
    ),
    Preset(
        name="mfo-r3d18",
        method="mfo",
        backbone_type="vssl-r3d",
        backbone_kwargs=(("depth", 18), ("stem", "hara")),
        backbone_title="R3D-18, Hara et al.'s form (7x7x7 stem + max-pool, MFO supp. Table 1)",
        method_config=(),  # MFO supp. §2: the method defaults are the Kinetics-400 recipe (16 x 112 x 112)
        pretrain_dataset="kinetics400",
        paper=MFO,
        convert_from="mfo",
        reported=_results(
            "MFO supp. Table 3", "kinetics400", "linear-probe", 63.2, 33.4, "L_aug + L_ret (full model)"
        ),
    ),
    Preset(
        name="mfo-s3d",
        method="mfo",
        backbone_type="vssl-s3d",
        backbone_kwargs=(("gating", False),),
        backbone_title="S3D (CoCLR layout, MFO supp. Table 2)",
        method_config=(),
        pretrain_dataset="kinetics400",
        paper=MFO,
        convert_from=None,  # the MFO release ships the R3D-18 model only
    ),
    Preset(
        name="sdc-r21d",
        method="sdc",
        backbone_type="vssl-r2plus1d",
        backbone_kwargs=(("variant", "torchvision"),),
        backbone_title="R(2+1)D-18, torchvision's form (SDC supp. Table 4)",
        method_config=(
            ("num_static_concepts", 100),
            ("num_dynamic_concepts", 100),
        ),  # SDC supp. Tables 2-3: K-400
        pretrain_dataset="kinetics400",
        paper=SDC,
        convert_from="sdc",
        reported=(
            *_results("SDC supp. Table 4", "not stated", "finetune", 86.1, 54.8, SDC_TABLE4),
            *_results("SDC supp. Table 1", "not stated", "linear-probe", 72.1, 45.9, SDC_TABLE1),
        ),
    ),
    Preset(
        name="sdc-r3d34",
        method="sdc",
        backbone_type="vssl-r3d",
        backbone_kwargs=(("depth", 34), ("stem", "hara")),
        backbone_title="R3D-34, Hara et al.'s form (SDC supp. Table 4)",
        method_config=(
            ("num_static_concepts", 100),
            ("num_dynamic_concepts", 100),
        ),  # SDC supp. Tables 2-3: K-400
        pretrain_dataset="kinetics400",
        paper=SDC,
        convert_from="sdc",
        reported=_results("SDC supp. Table 4", "not stated", "finetune", 89.4, 58.3, SDC_TABLE4),
    ),
)


def get_preset(name: str) -> Preset:
    """The preset called `name` (with or without the "vssl/" namespace)."""
    for preset in ZOO:
        if preset.name == name.removeprefix("vssl/"):
            return preset
    raise ValueError(f"unknown preset '{name}'; the zoo has: {', '.join(p.name for p in ZOO)}")


__all__ = ["DATASETS", "TASKS", "ZOO", "Paper", "Preset", "Result", "get_preset"]
