"""hf-vssl: self-supervised video representation learning on the Hugging Face stack.

`import hf_vssl` registers every backbone with `AutoConfig`, `AutoModel` and
`AutoModelForVideoClassification`.
"""

from . import methods, models
from .models import (
    VsslBackboneConfig,
    VsslBackboneModel,
    VsslForVideoClassification,
    VsslModelOutput,
    VsslPreTrainedModel,
)
from .methods import VsslForPretraining, VsslPretrainingConfig, VsslPretrainingOutput

__version__ = "0.1.0"

__all__ = [
    "VsslBackboneConfig",
    "VsslBackboneModel",
    "VsslForPretraining",
    "VsslForVideoClassification",
    "VsslModelOutput",
    "VsslPreTrainedModel",
    "VsslPretrainingConfig",
    "VsslPretrainingOutput",
    "__version__",
    "methods",
    "models",
]
