"""The end of a pretraining run: `save_pretrained` of the model, its video processor config and a
model card beside it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from accelerate import Accelerator

from ..data.processor import VsslVideoProcessor
from ..methods.modeling_pretraining import VsslForPretraining, VsslPretrainingConfig
from ..models.modeling_utils import check_finite_weights
from .loop import TrainResult
from .recipe import OptimizerRecipe

CARD_NAME = "README.md"
# config fields that describe the file, not the architecture
_BOOKKEEPING = ("model_type", "transformers_version", "architectures", "pretraining", "dtype", "torch_dtype")


def describe_recipe(recipe: OptimizerRecipe, result: TrainResult, dataset_name: str) -> str:
    schedule = {
        "step": f"x{recipe.lr_decay_factor} at epochs {list(recipe.lr_milestones)}",
        "cosine": f"cosine to {recipe.final_lr:g}",
        "constant": "constant",
    }[recipe.lr_schedule]
    return (
        f"{recipe.optimizer.upper()} lr {recipe.learning_rate:g} ({schedule}), weight decay {recipe.weight_decay:g}, "
        f"global batch {recipe.batch_size}, {len(result.epoch_summaries)} epoch(s) / {result.global_step} optimizer "
        f"steps on {dataset_name or 'the training split'} with hf-vssl."
    )


def write_model_card(
    model: VsslForPretraining,
    model_dir: Path,
    recipe: OptimizerRecipe,
    result: TrainResult,
    dataset_name: str,
) -> Path:
    """The zoo's card renderer (`hf_vssl.hub.cards.render_card`) for this run: the method's zoo entry
    with this run's backbone, clip size, data and recipe, and no paper numbers (they describe other
    weights)."""
    from ..hub.cards import WeightsOrigin, render_card
    from ..hub.zoo import ZOO

    config = model.config
    backbone = config.backbone_config
    candidates = [p for p in ZOO if p.method == config.method]
    if not candidates:
        return _plain_card(model, model_dir, recipe, result, dataset_name)
    preset = next((p for p in candidates if p.backbone_type == backbone.model_type), candidates[0])
    kwargs = {k: v for k, v in backbone.to_diff_dict().items() if k not in _BOOKKEEPING}
    run_preset = dataclasses.replace(
        preset,
        name=model_dir.name,
        backbone_type=backbone.model_type,
        backbone_kwargs=tuple(sorted(kwargs.items())),
        backbone_title=f"{backbone.model_type.removeprefix('vssl-')} ({', '.join(f'{k}={v}' for k, v in sorted(kwargs.items())) or 'defaults'})",
        num_frames=getattr(config, "num_frames", preset.num_frames),
        crop_size=getattr(config, "crop_size", preset.crop_size),
        pretrain_dataset=dataset_name or preset.pretrain_dataset,
        recipe=describe_recipe(recipe, result, dataset_name),
        convert_from=None,
        reported=(),
    )
    card = render_card(
        run_preset, origin=WeightsOrigin("trained", f"Run: {describe_recipe(recipe, result, dataset_name)}")
    )
    path = model_dir / CARD_NAME
    card.save(path)
    return path


def export_pretrained(
    model: VsslForPretraining,
    model_dir: Path,
    *,
    recipe: OptimizerRecipe,
    result: TrainResult,
    dataset_name: str,
    accelerator: Accelerator,
) -> tuple[Path, Path]:
    """Save backbone + pretraining heads (`AutoModel.from_pretrained(model_dir)` gives the backbone)
    and the card; the main process writes, the others wait."""
    model_dir = Path(model_dir)
    card_path = model_dir / CARD_NAME
    check_finite_weights(accelerator.unwrap_model(model), f"the model to export to {model_dir}")
    if accelerator.is_main_process:
        model = accelerator.unwrap_model(model)
        model.save_pretrained(model_dir)
        processor = training_clip_processor(model.config)
        if processor is not None:
            processor.save_pretrained(model_dir)
        card_path = write_model_card(model, model_dir, recipe, result, dataset_name)
    accelerator.wait_for_everyone()
    return model_dir, card_path


def training_clip_processor(config: VsslPretrainingConfig) -> VsslVideoProcessor | None:
    """The inference preprocessing of the clips the model was trained on (frames resized to
    `frame_size`, centre `crop_size`, `num_frames`, ImageNet normalisation as the augmentations);
    None for an optical-flow stream, whose input is not made from RGB frames."""
    if getattr(config, "stream", "rgb") != "rgb" or config.backbone_config.in_channels != 3:
        return None
    crop = config.crop_size
    return VsslVideoProcessor(
        num_frames=config.num_frames, resize_size=list(config.frame_size), crop_size=[crop, crop]
    )


def _plain_card(
    model: VsslForPretraining,
    model_dir: Path,
    recipe: OptimizerRecipe,
    result: TrainResult,
    dataset_name: str,
) -> Path:
    """A short card for a method the zoo does not describe yet."""
    from huggingface_hub import ModelCard, ModelCardData

    config = model.config
    data = ModelCardData(
        library_name="transformers", tags=["hf-vssl", "video", "self-supervised-learning", config.method]
    )
    body = (
        f"# {model_dir.name}\n\nA {config.backbone_config.model_type} video backbone pretrained with the "
        f"'{config.method}' pretext method of hf-vssl.\n\n{describe_recipe(recipe, result, dataset_name)}\n\n"
        "```python\nimport hf_vssl\nfrom transformers import AutoModel\n\n"
        f'backbone = AutoModel.from_pretrained("{model_dir}")\n```\n'
    )
    path = model_dir / CARD_NAME
    ModelCard(f"---\n{data.to_yaml()}\n---\n{body}").save(path)
    return path
