"""Model cards of the zoo presets, rendered with huggingface_hub's `ModelCard` / `ModelCardData`.

The card's metadata carries `model-index` only for results measured with hf-vssl; the paper's
numbers go into the card body, labelled as the paper's, with the seed table they come from. The
same renderer writes the repository's `model_cards/` (`hf-vssl zoo --write-cards`) and the README.md
of every push, so the two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..data.processor import VsslVideoProcessor
from .zoo import DATASETS, TASKS, ZOO, Preset, Result

TEMPLATE_PATH = Path(__file__).parent / "templates" / "model_card.md"
LIBRARY_NAME = "transformers"  # loading goes through transformers' Auto classes
TASK_TITLES = {"linear-probe": "linear probe", "finetune": "finetune", "retrieval": "retrieval"}


@dataclass(frozen=True)
class WeightsOrigin:
    """Where the weights of a card's repository come from.

    kind: "none" (architecture and recipe only), "converted" (from the authors' release) or
        "trained" (pretrained with hf-vssl).
    detail: the source file and checksum, or the training run.
    original_input: for converted weights, the preprocessing the original network was trained with.
    """

    kind: Literal["none", "converted", "trained"] = "none"
    detail: str = ""
    original_input: str = ""

    def sentence(self, preset: Preset) -> str:
        if self.kind == "converted":
            return f"converted from the authors' release with `hf-vssl convert --from {preset.convert_from}`. {self.detail}"
        if self.kind == "trained":
            return f"pretrained with hf-vssl. {self.detail}"
        how = (
            f"convert the authors' release with `hf-vssl convert --from {preset.convert_from}`"
            if preset.convert_from
            else "the authors released no weights for it"
        )
        return (
            "none published under this name yet; the architecture, recipe and card are defined, "
            f"pretrain them with hf-vssl or {how}."
        )


def card_data(preset: Preset, measured: Sequence[Result] = ()) -> ModelCardData:
    """Hub metadata: library, tags, datasets and a model-index of the measured results (if any)."""
    datasets = sorted({preset.pretrain_dataset, *(r.dataset for r in measured)})
    return ModelCardData(
        library_name=LIBRARY_NAME,
        tags=[
            "hf-vssl",
            "video",
            "self-supervised-learning",
            "action-recognition",
            preset.method,
            preset.backbone_type.removeprefix("vssl-"),
            f"{preset.modality}-stream",
        ],
        datasets=datasets,
        metrics=sorted({_metric_type(r) for r in measured}) or None,
        model_name=preset.name,
        eval_results=[_eval_result(r, f"https://huggingface.co/{preset.repo_id}") for r in measured] or None,
    )


def _metric_type(result: Result) -> str:
    return "recall" if result.task == "retrieval" else "accuracy"


def _eval_result(result: Result, source_url: str) -> EvalResult:
    """A model-index entry; its source is the repository whose card describes the measurement."""
    retrieval = result.task == "retrieval"
    return EvalResult(
        task_type="video-retrieval" if retrieval else "video-classification",
        task_name=f"Action recognition ({TASK_TITLES[result.task]})" if not retrieval else "Video retrieval",
        dataset_type=result.dataset,
        dataset_name=f"{DATASETS[result.dataset]} (split 1)",
        dataset_split="test",
        metric_type=_metric_type(result),
        metric_name=result.metric,
        metric_value=result.value,
        source_name=result.source,
        source_url=source_url,
    )


def render_card(
    preset: Preset,
    *,
    measured: Sequence[Result] = (),
    origin: WeightsOrigin | None = None,
    processor: VsslVideoProcessor | None = None,
) -> ModelCard:
    """The README.md of `vssl/<preset.name>`; `processor` is the repository's video processor (default:
    the one the preset's method config derives), whose preprocessing the card describes."""
    origin = origin or WeightsOrigin()
    processor = processor or preset.config.video_processor()
    config = preset.backbone_config()
    return ModelCard.from_template(
        card_data(preset, measured),
        template_path=str(TEMPLATE_PATH),
        name=preset.name,
        repo_id=preset.repo_id,
        summary=(
            f"A video encoder ({preset.backbone_title}) pretrained without labels on "
            f"{_dataset_title(preset.pretrain_dataset)} ({'RGB' if preset.modality == 'rgb' else 'optical-flow'} "
            f"stream) with {preset.paper.method_title}."
        ),
        weights=origin.sentence(preset),
        backbone_title=preset.backbone_title,
        backbone_type=preset.backbone_type,
        num_parameters=_count_parameters(config),
        hidden_size=config.hidden_size,
        in_channels=config.in_channels,
        method=preset.method,
        method_title=preset.paper.method_title,
        method_class=_method_class_name(preset.method),
        modality_title="RGB" if preset.modality == "rgb" else "Optical-flow",
        num_frames=preset.num_frames,
        crop_size=preset.crop_size,
        pretrain_dataset=_dataset_title(preset.pretrain_dataset),
        paper=preset.paper,
        input_description=_input_description(preset, origin, processor),
        recipe=preset.recipe,
        measured=[_row(r) for r in measured],
        reported=[_row(r) for r in preset.reported],
        limitations=_limitations(preset, origin),
    )


def _dataset_title(dataset: str) -> str:
    return DATASETS.get(dataset, dataset)


def _row(result: Result) -> dict[str, str]:
    return {
        "task": TASK_TITLES[result.task],
        "dataset": DATASETS[result.dataset],
        "metric": result.metric,
        "value": f"{result.value:.1f}",
        "pretrain_dataset": _dataset_title(result.pretrain_dataset),
        "source": result.source,
        "note": result.note,
    }


def _count_parameters(config) -> str:
    """Parameters of the backbone, counted on the meta device (nothing is allocated)."""
    import torch
    from transformers import AutoModel

    with torch.device("meta"):
        model = AutoModel.from_config(config)
    return f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M"


def _method_class_name(method: str) -> str | None:
    """The `<Method>ForPretraining` class of a registered method (None while it is not registered)."""
    from ..methods.registry import METHODS

    spec = METHODS.get(method)
    return spec.model_class.__name__ if spec is not None else None


def _input_description(preset: Preset, origin: WeightsOrigin, processor: VsslVideoProcessor) -> str:
    if origin.original_input:
        return f"These converted weights expect the original network's input: {origin.original_input}."
    size = processor.frame_size
    resize = (
        f"resized to {size[0]} x {size[1]}"
        if isinstance(size, list)
        else f"resized to a shorter side of {size}"
        if size is not None
        else "kept at their size"
    )
    steps = (
        f"{resize}, centre-cropped to {processor.crop_size[0]} x {processor.crop_size[1]}, scaled to "
        f"[0, 1] and normalised with mean {tuple(processor.image_mean)} and std {tuple(processor.image_std)}"
    )
    if preset.modality == "flow":
        return (
            "The frames are optical flow encoded as in ViCC / CoCLR: TV-L1 flow clipped to +-20, mapped to uint8 "
            f"by (f + 20) * 255 / 40 and stored as 3-channel frames (128, v, u), then {steps}."
        )
    return f"The frames are RGB, {steps}."


def _limitations(preset: Preset, origin: WeightsOrigin) -> list[str]:
    items = [
        "A feature extractor without a classifier: labels need a linear probe or a finetune on top.",
        f"Pretrained on {_dataset_title(preset.pretrain_dataset)} only; its features inherit that dataset's "
        "biases (mostly sports and everyday human actions filmed by amateurs) and are not meant for "
        "surveillance or for identifying people.",
        f"Tuned for {preset.num_frames}-frame clips at {preset.crop_size} x {preset.crop_size}. Other sizes run "
        "(global pooling) but change the features; clips below the network's minimum size raise an error.",
        "The paper's numbers were obtained with the paper's own training and evaluation code; they describe "
        "the original weights under the paper's protocol, not a guarantee for these weights.",
    ]
    if preset.modality == "flow":
        items.append(
            "Needs optical flow computed as above (the `flow` extra of hf-vssl installs OpenCV for TV-L1)."
        )
    if origin.kind == "converted":
        items.append(
            f"Converted weights follow the license of the original release ({preset.paper.code_url})."
        )
        if preset.backbone_type == "vssl-s3d":
            items.append(
                "hf-vssl's S3D pools at MaxPool_5a with ceil rounding (TensorFlow's SAME); the CoCLR, ViCC and torchvision "
                "originals floor, so outputs match the original when the map entering MaxPool_5a has even "
                "sides (e.g. 128 or 224 px crops) and differ slightly otherwise (e.g. 112 px)."
            )
    return items


def load_results(path: str | Path) -> tuple[Result, ...]:
    """Measured results from a JSON file: a list of objects with the fields of `Result`."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"results file {path} does not exist") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"results file {path} is not valid JSON: {err}") from None
    if not isinstance(entries, list):
        raise ValueError(
            f"results file {path} must hold a JSON list of results, got {type(entries).__name__}"
        )
    names = {f.name for f in fields(Result)}
    results = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not names.issuperset(entry):
            raise ValueError(
                f"results file {path}, entry {index}: expected an object with fields {sorted(names)} "
                f"(task one of {TASKS}), got {entry!r}"
            )
        try:
            results.append(Result(**entry))
        except (TypeError, ValueError) as err:
            raise ValueError(f"results file {path}, entry {index}: {err}") from None
    return tuple(results)


def write_cards(directory: str | Path, presets: Sequence[Preset] = ZOO) -> list[Path]:
    """Render `<directory>/<name>.md` for every preset (no measured results, no published weights)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for preset in presets:
        path = directory / f"{preset.name}.md"
        render_card(preset).save(path)
        paths.append(path)
    return paths


__all__ = ["WeightsOrigin", "card_data", "load_results", "render_card", "write_cards"]
