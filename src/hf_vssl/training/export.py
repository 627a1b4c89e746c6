"""The end of a pretraining run: `save_pretrained` of the model, its video processor config and a
model card beside it, the card rendered from the same processor object that is saved."""

from __future__ import annotations

from pathlib import Path

from accelerate import Accelerator

from ..methods.modeling_pretraining import VsslForPretraining
from ..models.modeling_utils import check_finite_weights
from .loop import TrainResult

CARD_NAME = "README.md"


def describe_run(result: TrainResult, dataset_name: str) -> str:
    epochs = int(result.epoch_summaries[-1]["epoch"]) if result.epoch_summaries else 0  # a resumed run's too
    return (
        f"{epochs} epoch(s) / {result.global_step} optimizer steps on "
        f"{dataset_name or 'the training split'} with hf-vssl."
    )


def write_model_card(
    model: VsslForPretraining,
    model_dir: Path,
    result: TrainResult,
    dataset_name: str,
    processor=None,
) -> Path:
    """The card of this run, from the checkpoint's own config (`hf_vssl.hub.cards.run_preset`: this
    run's backbone, recipe, clip and stream; no paper numbers, they describe other weights); its input
    section reads `processor`, the one saved beside the weights. The load snippets use the folder."""
    from ..hub.cards import WeightsOrigin, plain_card, render_card, run_preset

    backbone = model.checkpoint_config()
    run = run_preset(backbone, name=model_dir.name, pretrain_dataset=dataset_name)
    detail = f"Run: {describe_run(result, dataset_name)}"
    if run is None:  # a method the zoo does not describe yet
        card = plain_card(
            backbone, name=model_dir.name, location=str(model_dir), processor=processor, detail=detail
        )
    else:
        card = render_card(
            run,
            origin=WeightsOrigin("trained", detail),
            processor=processor,
            processor_saved=processor is not None,
            repo_id=str(model_dir),
            in_zoo=False,
        )
    path = model_dir / CARD_NAME
    card.save(path)
    return path


def export_pretrained(
    model: VsslForPretraining,
    model_dir: Path,
    *,
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
        processor = None
        if model.config.modality == "rgb":  # a flow stream's input is not made from RGB frames
            processor = model.config.video_processor()
            processor.save_pretrained(model_dir)
        card_path = write_model_card(model, model_dir, result, dataset_name, processor)
    accelerator.wait_for_everyone()
    return model_dir, card_path


class EpochExports:
    """The `EpochCallback` of `TrainingArguments.export_epochs`: after each of `epochs`, the export of
    `export_pretrained` (weights, processor, card) into `output_dir / "model-epoch-N"`, loadable as the
    final one (pretraining epochs vs accuracy: SDC supp. Table 5)."""

    def __init__(self, epochs: list[int], output_dir: Path, dataset_name: str, last_epoch: int) -> None:
        late = sorted(epoch for epoch in epochs if epoch > last_epoch)
        if late:
            raise ValueError(
                f"export_epochs {late} are past the run's {last_epoch} epochs; lower them or train longer"
            )
        self.epochs, self.output_dir, self.dataset_name = set(epochs), Path(output_dir), dataset_name

    def start(
        self, model: VsslForPretraining, accelerator: Accelerator, completed_epochs: int, resumed: bool
    ) -> None:
        pass

    def on_epoch_end(
        self, model: VsslForPretraining, accelerator: Accelerator, epoch: int, result: TrainResult
    ) -> dict[str, float]:
        if epoch in self.epochs:
            folder = self.output_dir / epoch_model_dir(epoch)
            export_pretrained(
                model, folder, result=result, dataset_name=self.dataset_name, accelerator=accelerator
            )
            accelerator.print(f"exported the model of epoch {epoch} to {folder}")
        return {}


def epoch_model_dir(epoch: int) -> str:
    return f"model-epoch-{epoch}"
