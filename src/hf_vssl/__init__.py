"""hf-vssl: self-supervised video representation learning on the Hugging Face stack.

`import hf_vssl` registers every backbone with `AutoConfig`, `AutoModel` and
`AutoModelForVideoClassification`, and every pretext method with the method registry.
"""

from . import data, hub, methods, models, nn, optim
from .data import (
    ClipAugment,
    VideoClipDataset,
    VsslVideoProcessor,
    load_diving48,
    load_hmdb51,
    load_kinetics400,
    load_ucf101,
    load_video_folder,
    make_synthetic_ucf,
)
from .hub import ZOO, add_remote_code, convert_checkpoint, get_preset
from .methods import VsslForPretraining, VsslPretrainingConfig, VsslPretrainingOutput
from .methods.mfo import MFOConfig, MFOForPretraining
from .methods.pace import PaceConfig, PaceForPretraining
from .methods.registry import METHODS, MethodSpec, get_method
from .methods.sdc import SDCConfig, SDCForPretraining
from .methods.vicc import ViCCConfig, ViCCForPretraining
from .models import (
    VsslBackboneConfig,
    VsslBackboneModel,
    VsslForVideoClassification,
    VsslModelOutput,
    VsslPreTrainedModel,
)
from .models.c3d import C3DConfig, C3DForVideoClassification, C3DModel
from .models.r2plus1d import R2Plus1DConfig, R2Plus1DForVideoClassification, R2Plus1DModel
from .models.r3d import R3DConfig, R3DForVideoClassification, R3DModel
from .models.s3d import S3DConfig, S3DForVideoClassification, S3DModel

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "ZOO",
    "C3DConfig",
    "C3DForVideoClassification",
    "C3DModel",
    "ClipAugment",
    "MFOConfig",
    "MFOForPretraining",
    "MethodSpec",
    "PaceConfig",
    "PaceForPretraining",
    "R2Plus1DConfig",
    "R2Plus1DForVideoClassification",
    "R2Plus1DModel",
    "R3DConfig",
    "R3DForVideoClassification",
    "R3DModel",
    "S3DConfig",
    "S3DForVideoClassification",
    "S3DModel",
    "SDCConfig",
    "SDCForPretraining",
    "ViCCConfig",
    "ViCCForPretraining",
    "VideoClipDataset",
    "VsslBackboneConfig",
    "VsslBackboneModel",
    "VsslForPretraining",
    "VsslForVideoClassification",
    "VsslModelOutput",
    "VsslPreTrainedModel",
    "VsslPretrainingConfig",
    "VsslPretrainingOutput",
    "VsslVideoProcessor",
    "__version__",
    "add_remote_code",
    "convert_checkpoint",
    "data",
    "get_method",
    "get_preset",
    "hub",
    "load_diving48",
    "load_hmdb51",
    "load_kinetics400",
    "load_ucf101",
    "load_video_folder",
    "make_synthetic_ucf",
    "methods",
    "models",
    "nn",
    "optim",
]
