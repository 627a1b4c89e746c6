"""hf-vssl: self-supervised video representation learning on the Hugging Face stack.

`import hf_vssl` registers every backbone with `AutoConfig`, `AutoModel`,
`AutoModelForVideoClassification` and `AutoBackbone` (`hf_vssl.models`), and its pipelines with
transformers' `pipeline()` ("video-classification", "video-feature-extraction":
`hf_vssl.pipelines.register_pipelines`). The other names below load on first use (PEP 562, as
transformers does); `hf_vssl.get_method` and the method classes register every pretext method with
the method registry.

The `hf-vssl` command enters at `hf_vssl_cli`, beside this package, so that `--help` and `--version`
import neither this module nor torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from . import models  # noqa: F401  (each backbone family registers itself with the Auto classes)
from .pipelines import register_pipelines

register_pipelines()

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
