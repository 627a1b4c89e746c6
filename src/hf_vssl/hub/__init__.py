"""The model zoo on the Hub: the preset table, model cards, push, remote code and converters.

`zoo.ZOO` is the one table of named presets; `cards` renders their model cards; `push` stages and
uploads a checkpoint as `vssl/<preset>`; `remote_code` makes checkpoints loadable without hf-vssl
(`trust_remote_code=True`); `convert` reads the original releases' checkpoint files.
"""

from .cards import WeightsOrigin, load_results, render_card, write_cards
from .convert import SOURCES, convert_checkpoint, get_source
from .push import push_checkpoint, push_model, stage_repository, upload_repository
from .remote_code import add_remote_code
from .zoo import ZOO, Preset, Result, get_preset


def _install_push_to_hub() -> None:
    """`model.push_to_hub(repo_id)` of every hf-vssl model publishes through `push_model`."""
    from ..models.modeling_utils import VsslPreTrainedModel

    VsslPreTrainedModel.repository_publisher = staticmethod(push_model)


_install_push_to_hub()

__all__ = [
    "SOURCES",
    "ZOO",
    "Preset",
    "Result",
    "WeightsOrigin",
    "add_remote_code",
    "convert_checkpoint",
    "get_preset",
    "get_source",
    "load_results",
    "push_checkpoint",
    "push_model",
    "render_card",
    "stage_repository",
    "upload_repository",
    "write_cards",
]
