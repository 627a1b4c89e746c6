"""hf-vssl: self-supervised video representation learning on the Hugging Face stack.

`import hf_vssl` registers every backbone with `AutoConfig`, `AutoModel`,
`AutoModelForVideoClassification` and `AutoBackbone`, and its pipelines with transformers'
`pipeline()` ("video-classification", "video-feature-extraction": `hf_vssl.pipelines`). The names
below load on first use (PEP 562, as transformers does), so `import hf_vssl` costs the backbones
only; `hf_vssl.get_method` and the method classes register every pretext method with the method
registry.

The `hf-vssl` command defers even the registration to the command it runs (`cli/main.py`): importing
torch and transformers takes seconds, and `hf-vssl --help` / `--version` need neither.
"""

from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

# public name -> the submodule that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "ClipAugment",
            "VideoClipDataset",
            "VsslVideoProcessor",
            "load_diving48",
            "load_hmdb51",
            "load_kinetics400",
            "load_ucf101",
            "load_video_folder",
            "make_synthetic_ucf",
        ),
        "data",
    ),
    **dict.fromkeys(("ZOO", "add_remote_code", "convert_checkpoint", "get_preset"), "hub"),
    **dict.fromkeys(("VsslForPretraining", "VsslPretrainingConfig", "VsslPretrainingOutput"), "methods"),
    **dict.fromkeys(("METHODS", "MethodSpec", "build_method_config", "get_method"), "methods.registry"),
    **dict.fromkeys(("MFOConfig", "MFOForPretraining"), "methods.mfo"),
    **dict.fromkeys(("PaceConfig", "PaceForPretraining"), "methods.pace"),
    **dict.fromkeys(("SDCConfig", "SDCForPretraining"), "methods.sdc"),
    **dict.fromkeys(("ViCCConfig", "ViCCForPretraining"), "methods.vicc"),
    **dict.fromkeys(
        (
            "VsslBackbone",
            "VsslBackboneConfig",
            "VsslBackboneModel",
            "VsslForVideoClassification",
            "VsslModelOutput",
            "VsslPreTrainedModel",
        ),
        "models",
    ),
    **dict.fromkeys(("C3DBackbone", "C3DConfig", "C3DForVideoClassification", "C3DModel"), "models.c3d"),
    **dict.fromkeys(
        ("R2Plus1DBackbone", "R2Plus1DConfig", "R2Plus1DForVideoClassification", "R2Plus1DModel"),
        "models.r2plus1d",
    ),
    **dict.fromkeys(("R3DBackbone", "R3DConfig", "R3DForVideoClassification", "R3DModel"), "models.r3d"),
    **dict.fromkeys(("S3DBackbone", "S3DConfig", "S3DForVideoClassification", "S3DModel"), "models.s3d"),
}
_SUBPACKAGES = ("data", "hub", "methods", "models", "nn", "optim", "pipelines")

__all__ = sorted([*_EXPORTS, *_SUBPACKAGES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return import_module(f".{name}", __name__)
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _register_pipelines() -> None:
    """transformers' `pipeline()` serves "video-classification" (every model: hf_vssl's subclass runs
    transformers' code for the others) and "video-feature-extraction" with `hf_vssl.pipelines`, named
    so that its import (the data layer) waits for the first pipeline; where torchvision is
    installed, `AutoVideoProcessor` learns hf_vssl's processor files."""
    from transformers import AutoModel
    from transformers.pipelines import PIPELINE_REGISTRY
    from transformers.utils import is_torchvision_available

    tasks = PIPELINE_REGISTRY.supported_tasks  # set in place: `register_pipeline` needs the classes
    impl = "hf_vssl.pipelines.VsslVideoClassificationPipeline"
    tasks["video-classification"] = tasks["video-classification"] | {"impl": impl}
    impl = "hf_vssl.pipelines.VsslVideoFeatureExtractionPipeline"
    tasks.setdefault("video-feature-extraction", {"impl": impl, "pt": (AutoModel,), "type": "video"})
    if is_torchvision_available():
        from .pipelines import register_auto_video_processor

        register_auto_video_processor()


# not in the `hf-vssl` console script, whose cli/main.py registers before it runs a command
if Path((getattr(sys, "argv", None) or [""])[0]).stem != "hf-vssl":
    from . import models  # noqa: F401  (registers the backbones with the Auto classes)

    _register_pipelines()
