"""hf_vssl models in transformers' pipelines and `AutoVideoProcessor`, with or without torchvision.

`import hf_vssl` runs `register_pipelines`, after which the usual calls work on a folder holding a
model and its `video_preprocessor_config.json` (what pretrain, finetune and probe write):

    pipeline("video-classification", model=dir)("clip.mp4")      # [{"label", "score"}, ...]
    pipeline("video-feature-extraction", model=dir)("clip.mp4")  # the pooled video feature

transformers' own video-classification pipeline loads its processor with `AutoVideoProcessor` (which
needs torchvision), classifies one clip and reads `config.num_frames`; the papers test on several
clips per video (and ten crops for ViCC), their softmax averaged. transformers picks a pipeline by
task, not by model, so hf_vssl registers for the task a subclass that, for hf_vssl classifiers,
decodes with PyAV through the model's `VsslVideoProcessor` and averages over all its clips, and runs
transformers' code unchanged for every other model (its results are transformers' own).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModel, AutoModelForVideoClassification, AutoVideoProcessor
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.pipelines import PIPELINE_REGISTRY, Pipeline
from transformers.pipelines.video_classification import VideoClassificationPipeline
from transformers.utils import is_torchvision_available

from .data import processor as processor_module
from .data.processor import VsslVideoProcessor
from .models import VsslBackboneModel, VsslForVideoClassification, VsslPreTrainedModel
from .models.c3d import C3DConfig
from .models.r2plus1d import R2Plus1DConfig
from .models.r3d import R3DConfig
from .models.s3d import S3DConfig

logger = logging.getLogger(__name__)
_CLIP_SCORES = {"softmax": lambda x: x.softmax(-1), "sigmoid": torch.sigmoid, "none": lambda x: x}


def model_video_processor(model: VsslPreTrainedModel, given: Any = None) -> VsslVideoProcessor:
    """The clips an hf_vssl pipeline feeds `model`: `given` (a `VsslVideoProcessor`, or the
    torchvision-backed one `AutoVideoProcessor` loads), else the processor saved with the model (a
    folder or Hub repo), else evaluation's default for a folder without one (`default_processor`:
    the clips its pretraining record implies, else the papers' protocol), with a warning."""
    if isinstance(given, VsslVideoProcessor):
        return given
    if given is not None and isinstance(getattr(given, "processor", None), VsslVideoProcessor):
        return given.processor
    source = model.name_or_path
    if source and (not Path(source).is_dir() or (Path(source) / VsslVideoProcessor.config_name).is_file()):
        return VsslVideoProcessor.from_pretrained(source)
    from .evaluation.runner import default_processor

    backbone = model.backbone if isinstance(model, VsslForVideoClassification) else model
    processor = default_processor(backbone, source or None)
    logger.warning(
        "%s has no %s: using evaluation's default clips %s; save the model's processor beside it "
        "(processor.save_pretrained(dir)) or pass video_processor=",
        source or "the model",
        VsslVideoProcessor.config_name,
        processor,
    )
    return processor


class _SavesAsPlainFolder:
    """A pipeline `register_pipelines` registered saves as a plain model folder. transformers' own
    `Pipeline.save_pretrained` would record the class in the folder's `custom_pipelines` as remote
    code (and fail copying this module's relative imports), which `pipeline()` then refuses without
    `trust_remote_code`; `import hf_vssl` serves the task instead. The processors are saved with the
    model, a `VsslVideoProcessor` included (transformers' save skips video processors)."""

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        self.model.save_pretrained(save_directory, **kwargs)
        for processor in (self.tokenizer, self.feature_extractor, self.image_processor, self.video_processor):
            if processor is not None:
                processor.save_pretrained(save_directory)


class VsslVideoClassificationPipeline(_SavesAsPlainFolder, VideoClassificationPipeline):
    """The "video-classification" task: for hf_vssl classifiers, every clip (and crop) of the
    model's processor through the model and the per-clip softmax (sigmoid for multi-label, raw
    outputs for regression) averaged; other models run transformers' pipeline."""

    def __init__(self, *args: Any, video_processor: Any = None, **kwargs: Any) -> None:
        model = kwargs["model"] if "model" in kwargs else args[0]
        if isinstance(model, VsslForVideoClassification):
            video_processor = model_video_processor(model, video_processor)
        super().__init__(*args, video_processor=video_processor, **kwargs)

    @property
    def _is_vssl(self) -> bool:
        return isinstance(self.video_processor, VsslVideoProcessor)

    def preprocess(self, video: Any, num_frames: int | None = None, frame_sampling_rate: int | None = None):
        if not self._is_vssl:
            return super().preprocess(
                video, num_frames=num_frames, frame_sampling_rate=frame_sampling_rate or 1
            )
        return _video_inputs(self, video, num_frames, frame_sampling_rate)

    def _forward(self, model_inputs: dict[str, torch.Tensor]) -> Any:
        if not self._is_vssl:
            return super()._forward(model_inputs)
        pixel_values = model_inputs["pixel_values"]  # (B, clips, C, T, h, w)
        logits = self.model(pixel_values=pixel_values.flatten(0, 1)).logits
        return ImageClassifierOutput(logits=logits.unflatten(0, pixel_values.shape[:2]))

    def postprocess(self, model_outputs: Any, top_k: int = 5, function_to_apply: str | None = None):
        if not self._is_vssl:
            return super().postprocess(model_outputs, top_k=top_k, function_to_apply=function_to_apply)
        if function_to_apply is None:  # transformers' choice by problem type
            function_to_apply = {"regression": "none", "multi_label_classification": "sigmoid"}.get(
                self.model.config.problem_type, "softmax"
            )
        video_scores = _CLIP_SCORES[function_to_apply](model_outputs.logits).mean(dim=1)  # over clips
        averaged = ImageClassifierOutput(logits=video_scores)
        return super().postprocess(averaged, top_k=top_k, function_to_apply="none")


class VsslVideoFeatureExtractionPipeline(_SavesAsPlainFolder, Pipeline):
    """ "video-feature-extraction": a video -> its pooled backbone feature (D,), averaged over the
    processor's clips and crops (the video feature probe, retrieval and clustering use).
    `return_tensors=True` gives a tensor, else a list of floats (as "image-feature-extraction")."""

    _load_processor = False
    _load_image_processor = False
    _load_video_processor = None
    _load_feature_extractor = False
    _load_tokenizer = False

    def __init__(self, *args: Any, video_processor: Any = None, **kwargs: Any) -> None:
        model = kwargs["model"] if "model" in kwargs else args[0]
        if not isinstance(model, VsslBackboneModel):
            raise ValueError(
                f"video-feature-extraction needs an hf-vssl backbone, got {type(model).__name__}"
            )
        super().__init__(*args, video_processor=model_video_processor(model, video_processor), **kwargs)

    def _sanitize_parameters(
        self,
        num_frames: int | None = None,
        frame_sampling_rate: int | None = None,
        return_tensors: bool = False,
    ) -> tuple[dict, dict, dict]:
        preprocess = {"num_frames": num_frames, "frame_sampling_rate": frame_sampling_rate}
        return {k: v for k, v in preprocess.items() if v is not None}, {}, {"return_tensors": return_tensors}

    def preprocess(self, video: Any, num_frames: int | None = None, frame_sampling_rate: int | None = None):
        return _video_inputs(self, video, num_frames, frame_sampling_rate)

    def _forward(self, model_inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pixel_values = model_inputs["pixel_values"]  # (B, clips, C, T, h, w)
        pooled = self.model(pixel_values=pixel_values.flatten(0, 1)).pooler_output
        return {"pooler_output": pooled.unflatten(0, pixel_values.shape[:2]).mean(dim=1)}

    def postprocess(self, model_outputs: dict[str, torch.Tensor], return_tensors: bool = False):
        feature = model_outputs["pooler_output"][0]
        return feature if return_tensors else feature.tolist()


def _video_inputs(
    pipe: Pipeline, video: Any, num_frames: int | None, frame_sampling_rate: int | None
) -> dict[str, torch.Tensor]:
    """One video -> {"pixel_values": (1, clips, C, T, h, w)} through the pipeline's VsslVideoProcessor
    (`frame_sampling_rate`, the pipeline's name for it, overrides `frame_stride`)."""
    processor = pipe.video_processor
    if frame_sampling_rate is not None:
        processor = replace(processor, frame_stride=frame_sampling_rate)
    pixel_values = processor(video, num_frames=num_frames)["pixel_values"]
    return {"pixel_values": pixel_values[None].to(pipe.dtype)}


def register_pipelines() -> None:
    """transformers' `pipeline()` serves "video-classification" (every model; the class above keeps
    transformers' default model and runs its code for other models) and "video-feature-extraction"
    with the classes above; where torchvision is installed, `AutoVideoProcessor` learns hf_vssl's
    processor files."""
    task = "video-classification"
    _, transformers_entry, _ = PIPELINE_REGISTRY.check_task(task)
    # the registry warns "... is already registered. Overwriting pipeline": the replacement is the point
    overwrite_notice = logging.getLogger(type(PIPELINE_REGISTRY).__module__)
    level = overwrite_notice.level
    overwrite_notice.setLevel(logging.ERROR)
    try:
        PIPELINE_REGISTRY.register_pipeline(
            task,
            pipeline_class=VsslVideoClassificationPipeline,
            pt_model=AutoModelForVideoClassification,
            default=transformers_entry.get("default"),
            type="video",
        )
    finally:
        overwrite_notice.setLevel(level)
    PIPELINE_REGISTRY.register_pipeline(
        "video-feature-extraction",
        pipeline_class=VsslVideoFeatureExtractionPipeline,
        pt_model=AutoModel,
        type="video",
    )
    if is_torchvision_available():
        _register_auto_video_processor()


def _register_auto_video_processor() -> None:
    """Where torchvision is installed: `AutoVideoProcessor.from_pretrained(dir)` of an hf_vssl folder
    gives `VsslTorchvisionVideoProcessor`. The saved file names its class `VsslVideoProcessor`;
    transformers maps that name to the requested backend's class through the registered dict."""
    backends = {"torchvision": processor_module.VsslTorchvisionVideoProcessor, "pyav": VsslVideoProcessor}
    for config_class in (C3DConfig, R2Plus1DConfig, R3DConfig, S3DConfig):
        AutoVideoProcessor.register(config_class, video_processor_classes=backends, exist_ok=True)
