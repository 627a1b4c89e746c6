"""Model cards, rendered with huggingface_hub's `ModelCard` / `ModelCardData`.

The card's metadata carries `model-index` only for results measured with hf-vssl; the paper's
numbers go into the card body, labelled as the paper's, with the supplementary table they come from. The
same renderer writes the repository's `model_cards/` (`hf-vssl zoo --write-cards`), the card of a
pretraining run and the README.md of every push, so they cannot drift apart. A card describes the
checkpoint from its own config: a run's card is rendered from a preset built out of the checkpoint
(`run_preset`), with a zoo preset's paper numbers only when the checkpoint is that preset's model;
classifiers (probe / finetune) get `classifier_card`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..data.processor import VsslVideoProcessor
from .zoo import DATASETS, TASKS, ZOO, Preset, Result

if TYPE_CHECKING:
    from ..methods.modeling_pretraining import VsslPretrainingConfig

TEMPLATE_PATH = Path(__file__).parent / "templates" / "model_card.md"
LIBRARY_NAME = "transformers"  # loading goes through transformers' Auto classes
TASK_TITLES = {"linear-probe": "linear probe", "finetune": "finetune", "retrieval": "retrieval"}
NOT_RECORDED = "not recorded"  # the pretraining data of a checkpoint whose folder does not say
OWN_LICENSE = "apache-2.0"  # weights trained with hf-vssl: the package's own license
# config fields that describe the file, not the architecture
BOOKKEEPING = (
    "model_type",
    "transformers_version",
    "architectures",
    "auto_map",
    "pretraining",
    "dtype",
    "torch_dtype",
)


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

    def license(self, preset: Preset) -> tuple[str, str | None]:
        """(Hub license id, note): weights trained here are ours; converted (or to-be-converted) weights
        follow the authors' release."""
        if self.kind == "trained" or not preset.convert_from:
            return OWN_LICENSE, None
        return preset.paper.license, preset.paper.license_note or None

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


def card_data(
    preset: Preset,
    measured: Sequence[Result] = (),
    *,
    origin: WeightsOrigin | None = None,
    repo_id: str | None = None,
) -> ModelCardData:
    """Hub metadata: library, license, pipeline, tags, datasets and a model-index of the measured
    results (if any)."""
    datasets = sorted({preset.pretrain_dataset, *(r.dataset for r in measured)} - {NOT_RECORDED})
    license_id, _ = (origin or WeightsOrigin()).license(preset)
    return ModelCardData(
        library_name=LIBRARY_NAME,
        license=license_id,
        license_name="no-license-file" if license_id == "other" else None,
        license_link=preset.paper.code_url if license_id == "other" else None,
        pipeline_tag="feature-extraction",
        tags=[
            "hf-vssl",
            "video",
            "self-supervised-learning",
            "action-recognition",
            preset.method,
            preset.backbone_type.removeprefix("vssl-"),
            f"{preset.modality}-stream",
        ],
        datasets=datasets or None,
        metrics=sorted({_metric_type(r) for r in measured}) or None,
        model_name=preset.name,
        eval_results=[
            _eval_result(r, f"https://huggingface.co/{repo_id or preset.repo_id}") for r in measured
        ]
        or None,
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
    processor_saved: bool = True,
    repo_id: str | None = None,
    in_zoo: bool = True,
) -> ModelCard:
    """The README.md of `preset`'s weights. processor: the video processor saved beside them (default:
    the one the preset's method config derives, which a zoo repository holds); processor_saved: False
    when no processor file goes with the weights (a flow stream); repo_id: the repository or local
    folder of the load snippets (default `vssl/<name>`); in_zoo: `preset` is a zoo entry (not one
    built from a checkpoint by `run_preset`)."""
    origin = origin or WeightsOrigin()
    shown = processor or preset.config.video_processor()
    config = preset.backbone_config()
    return ModelCard.from_template(
        card_data(preset, measured, origin=origin, repo_id=repo_id),
        template_path=str(TEMPLATE_PATH),
        name=preset.name,
        repo_id=repo_id or preset.repo_id,
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
        num_frames=shown.num_frames,
        crop_size=shown.crop_size,
        processor_saved=processor_saved,
        zoo_name=preset.name if in_zoo else None,
        pretrain_dataset=_dataset_title(preset.pretrain_dataset),
        paper=preset.paper,
        input_description=_input_description(preset.modality, origin, shown),
        recipe=recipe_summary(preset.config),
        measured=[_row(r) for r in measured],
        reported=[_row(r) for r in preset.reported],
        limitations=_limitations(preset, origin),
    )


def recipe_summary(config: VsslPretrainingConfig) -> str:
    """A run's recipe in a few sentences for its model card, read from the method config's fields
    (never written by hand); the method's own part is `config.method_summary()`."""
    frames = (
        f" cropped from frames resized to {config.frame_size[0]} x {config.frame_size[1]}"
        if config.frame_size is not None
        else ""
    )
    schedule = {
        "step": f"x{config.lr_decay_factor:g} at epochs {list(config.lr_milestones)}",
        "cosine": f"cosine to {config.final_lr:g}",
        "constant": "constant",
    }[config.lr_schedule]
    repeats = f" of {config.epoch_repeats} passes over the videos" if config.epoch_repeats > 1 else ""
    if config.repeated_samples > 1:
        repeats += f", {config.repeated_samples} clips per decoded video"
    return (
        f"{config.method_summary()} {config.num_frames} x {config.crop_size} x {config.crop_size} clips{frames}; "
        f"{config.optimizer.upper()} lr {config.learning_rate:g} ({schedule}), weight decay "
        f"{config.weight_decay:g}, global batch {config.batch_size}, {config.epochs} epochs{repeats}."
    )


def run_preset(
    backbone_config: Any, *, name: str, pretrain_dataset: str = "", reported: Sequence[Result] = ()
) -> Preset | None:
    """A preset that describes one checkpoint: its backbone config and the method config of its
    `pretraining` record (so recipe, clip and stream are the checkpoint's), the paper of its method,
    and `reported` only when the caller found the checkpoint to be a zoo preset's model. None when
    the checkpoint has no pretraining record or its method has no zoo entry (no paper to cite)."""
    record = dict(backbone_config.pretraining or {})
    method = record.pop("method", None)
    known = next((p for p in ZOO if p.method == method), None)
    if known is None:
        return None
    from transformers import AutoConfig

    defaults = AutoConfig.for_model(backbone_config.model_type).to_dict()
    kwargs = {
        k: v
        for k, v in backbone_config.to_dict().items()
        if k not in BOOKKEEPING and not k.startswith("_") and k in defaults and v != defaults[k]
    }
    shown = ", ".join(f"{k}={v}" for k, v in sorted(kwargs.items())) or "defaults"
    return Preset(
        name=name,
        method=method,
        backbone_type=backbone_config.model_type,
        backbone_kwargs=tuple(sorted(kwargs.items())),
        backbone_title=f"{backbone_config.model_type.removeprefix('vssl-')} ({shown})",
        method_config=tuple(sorted(record.items())),
        pretrain_dataset=pretrain_dataset or NOT_RECORDED,
        paper=known.paper,
        reported=tuple(reported),
    )


def classification_results(
    metrics: dict[str, float], *, task: str, dataset: str, source_url: str | None = None
) -> list[EvalResult]:
    """model-index entries of a classifier measured with hf-vssl: top-k fractions -> accuracy in %."""
    names = {"top1": "top-1", "top5": "top-5"}
    return [
        EvalResult(
            task_type="video-classification",
            task_name=f"Action recognition ({TASK_TITLES[task]})",
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_split="test",
            metric_type="accuracy",
            metric_name=f"{names[key]} accuracy",
            metric_value=round(100 * value, 2),
            source_name="hf-vssl" if source_url else None,  # huggingface_hub wants both or neither
            source_url=source_url,
        )
        for key, value in metrics.items()
        if key in names
    ]


def classifier_card(
    config: Any,
    *,
    name: str,
    location: str,
    eval_results: Sequence[EvalResult],
    base_model: str | None,
    processor: VsslVideoProcessor | None,
    modality: str = "rgb",
) -> ModelCard:
    """The card of a linear probe or finetune (a `VsslForVideoClassification` folder): what it was
    made from (`base_model`), its labels, the processor saved beside it and its measured results."""
    labels = [config.id2label[i] for i in sorted(config.id2label)]
    data = ModelCardData(
        library_name=LIBRARY_NAME,
        license=OWN_LICENSE,
        pipeline_tag="video-classification",
        base_model=base_model if base_model and _is_repo_id(base_model) else None,
        tags=[
            "hf-vssl",
            "video",
            "video-classification",
            "action-recognition",
            config.model_type.removeprefix("vssl-"),
        ],
        datasets=sorted({r.dataset_type for r in eval_results}) or None,
        metrics=["accuracy"] if eval_results else None,
        model_name=name,
        eval_results=list(eval_results) or None,
    )
    made = (
        f"{eval_results[0].task_name.lower()} on {eval_results[0].dataset_name}"
        if eval_results
        else "a classifier"
    )
    base = f"`{base_model}`" if base_model else "a randomly initialised backbone"
    shown = ", ".join(labels[:10]) + (f", ... ({len(labels)} in all)" if len(labels) > 10 else "")
    rows = "\n".join(
        f"| {r.task_name} | {r.dataset_name} | {r.metric_name} | {r.metric_value:.1f} |" for r in eval_results
    )
    results = (
        f"| Task | Dataset | Metric | Value (%) |\n|---|---|---|---|\n{rows}"
        if eval_results
        else "No result measured yet."
    )
    processor_text = (
        f"{_input_description(modality, WeightsOrigin(), processor)} `video_preprocessor_config.json` holds "
        "the test clips these results were measured with; the processor averages nothing itself: average "
        "the softmax over a video's clips as below."
        if processor is not None
        else "No video processor was saved with this model."
    )
    body = f"""# {name}

A video classifier made with hf-vssl: {made}, from {base}.

| | |
|---|---|
| Backbone | `{config.model_type}` ({_count_parameters(config)} parameters), {config.hidden_size}-d pooled features |
| Labels | {shown} |

## How to use

```python
import hf_vssl  # noqa: F401  (registers the model types)
from transformers import AutoModelForVideoClassification
from hf_vssl.data.processor import VsslVideoProcessor

model = AutoModelForVideoClassification.from_pretrained("{location}").eval()
processor = VsslVideoProcessor.from_pretrained("{location}")
clips = processor("video.mp4")["pixel_values"]  # (clips, C, T, H, W)
probs = model(clips).logits.softmax(-1).mean(0)  # the video's score: the mean over its clips
print(model.config.id2label[int(probs.argmax())])
```

## Input format and normalisation

{processor_text}

## Results (measured with hf-vssl)

{results}
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def plain_card(
    config: Any, *, name: str, location: str, processor: VsslVideoProcessor | None, detail: str = ""
) -> ModelCard:
    """The card of a backbone no zoo method describes (a random init, a method without a zoo entry):
    what its config records, nothing more."""
    record = dict(config.pretraining or {})
    method = record.pop("method", None)
    made = (
        f"pretrained with hf-vssl's '{method}' pretext method"
        if method
        else "randomly initialised (no pretraining record)"
    )
    data = ModelCardData(
        library_name=LIBRARY_NAME,
        license=OWN_LICENSE,
        pipeline_tag="feature-extraction",
        tags=[
            "hf-vssl",
            "video",
            "feature-extraction",
            *([method] if method else []),
            config.model_type.removeprefix("vssl-"),
        ],
        model_name=name,
    )
    input_text = (
        _input_description("rgb", WeightsOrigin(), processor) + " `video_preprocessor_config.json` holds it."
        if processor is not None
        else "No video processor config is saved with these weights."
    )
    body = f"""# {name}

A `{config.model_type}` video backbone ({_count_parameters(config)} parameters, {config.hidden_size}-d pooled features), {made}. {detail}

```python
import hf_vssl  # noqa: F401  (registers the model types)
from transformers import AutoModel

backbone = AutoModel.from_pretrained("{location}")
features = backbone(pixel_values).pooler_output  # pixel_values: (B, {config.in_channels}, T, H, W)
```

## Input format and normalisation

{input_text}
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def _is_repo_id(name: str) -> bool:
    """A Hub id (`owner/name`) can be a `base_model`; a local path cannot."""
    return name.count("/") == 1 and not Path(name).exists()


def _dataset_title(dataset: str) -> str:
    return "an unrecorded dataset" if dataset == NOT_RECORDED else DATASETS.get(dataset, dataset)


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


def _input_description(modality: str, origin: WeightsOrigin, processor: VsslVideoProcessor) -> str:
    """The preprocessing, read from `processor` (the object saved beside the weights)."""
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
    if modality == "flow":
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
    license_id, license_note = origin.license(preset)
    if license_id != OWN_LICENSE:
        note = f" ({license_note})" if license_note else ""
        items.append(
            f"Converted weights follow the license of the original release ({preset.paper.code_url}): "
            f"{license_id}{note}."
        )
    if origin.kind == "converted" and preset.backbone_type == "vssl-s3d":
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


__all__ = [
    "WeightsOrigin",
    "card_data",
    "classification_results",
    "classifier_card",
    "load_results",
    "plain_card",
    "recipe_summary",
    "render_card",
    "run_preset",
    "write_cards",
]
