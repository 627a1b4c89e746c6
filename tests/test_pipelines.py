"""transformers' `pipeline()` and `AutoVideoProcessor` on folders written by hf_vssl (a tiny R3D
classifier and its processor), on a real mp4 decoded by PyAV."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest
import torch
from transformers import VideoMAEConfig, VideoMAEForVideoClassification, VideoMAEImageProcessorPil, pipeline
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.video_classification import VideoClassificationPipeline

from hf_vssl import R3DConfig, R3DForVideoClassification, VsslVideoProcessor
from hf_vssl.evaluation.runner import default_processor
from hf_vssl.pipelines import VsslVideoClassificationPipeline, VsslVideoFeatureExtractionPipeline

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


@pytest.fixture(scope="module")
def classifier_dir(tiny_ucf_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finetune/probe output folder: `classifier.save_pretrained` + `processor.save_pretrained`."""
    classes = sorted({p.parent.name for p in tiny_ucf_root.glob("*/*.mp4")})
    torch.manual_seed(0)
    config = R3DConfig(
        depth=10,
        width_multiplier=0.125,
        num_labels=len(classes),
        id2label=dict(enumerate(classes)),
        label2id={name: i for i, name in enumerate(classes)},
    )
    directory = tmp_path_factory.mktemp("classifier")
    R3DForVideoClassification(config).save_pretrained(directory)
    VsslVideoProcessor(num_frames=4, num_clips=3, frame_size=[36, 45], crop_size=32).save_pretrained(
        directory
    )
    return directory


def test_video_classification_averages_the_softmax_over_the_processor_clips(tiny_ucf_root, classifier_dir):
    video = str(next(tiny_ucf_root.glob("MoveRight/*.mp4")))
    classify = pipeline("video-classification", model=str(classifier_dir))
    assert isinstance(classify, VsslVideoClassificationPipeline)
    config = classify.model.config
    results = classify(video, top_k=config.num_labels)
    assert {r["label"] for r in results} == set(config.id2label.values())
    scores = torch.tensor([r["score"] for r in results])
    assert scores.sum() <= 1 + 1e-5
    # by hand: the saved processor's 3 clips through the model, softmax per clip, mean over clips
    model = R3DForVideoClassification.from_pretrained(classifier_dir).eval()
    pixel_values = VsslVideoProcessor.from_pretrained(classifier_dir)(video)["pixel_values"]
    assert len(pixel_values) == 3
    with torch.no_grad():
        expected = model(pixel_values).logits.softmax(-1).mean(0)
    by_label = {config.id2label[i]: p for i, p in enumerate(expected.tolist())}
    assert [r["label"] for r in results] == sorted(by_label, key=by_label.get, reverse=True)
    torch.testing.assert_close(scores, torch.tensor([by_label[r["label"]] for r in results]))
    assert len(classify(video)) == 5  # transformers' default top_k
    # the pipeline's num_frames reaches the processor: 8-frame clips
    with torch.no_grad():
        longer = model(
            VsslVideoProcessor.from_pretrained(classifier_dir)(video, num_frames=8)["pixel_values"]
        )
    top = classify(video, num_frames=8, top_k=1)[0]
    assert top["score"] == pytest.approx(longer.logits.softmax(-1).mean(0).max().item(), abs=1e-5)


def test_a_saved_pipeline_reloads_with_its_clips(tiny_ucf_root, classifier_dir, tmp_path):
    """`pipe.save_pretrained` writes a plain model folder with the processor: no `custom_pipelines`
    (transformers records a registered class as remote code, which then needs trust_remote_code)."""
    video = str(next(tiny_ucf_root.glob("MoveRight/*.mp4")))
    classify = pipeline("video-classification", model=str(classifier_dir))
    classify.save_pretrained(tmp_path)
    reloaded = pipeline("video-classification", model=str(tmp_path))
    assert "custom_pipelines" not in (tmp_path / "config.json").read_text()
    assert reloaded.video_processor == classify.video_processor
    assert reloaded(video) == classify(video)


def test_a_folder_without_processor_gets_evaluations_default_clips(classifier_dir, tmp_path, caplog):
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((classifier_dir / name).read_bytes())
    with caplog.at_level(logging.WARNING, logger="hf_vssl.pipelines"):
        classify = pipeline("video-classification", model=str(tmp_path))
    assert classify.video_processor == default_processor(classify.model.backbone, str(tmp_path))
    assert classify.video_processor == VsslVideoProcessor()  # no pretraining record: the papers' protocol
    assert "video_preprocessor_config.json" in caplog.text


def test_video_feature_extraction_gives_the_pooled_feature_averaged_over_clips(tiny_ucf_root, classifier_dir):
    video = str(next(tiny_ucf_root.glob("Still/*.mp4")))
    extract = pipeline("video-feature-extraction", model=str(classifier_dir))
    assert isinstance(extract, VsslVideoFeatureExtractionPipeline)
    feature = extract(video, return_tensors=True)
    model = R3DForVideoClassification.from_pretrained(classifier_dir).eval()
    pixel_values = VsslVideoProcessor.from_pretrained(classifier_dir)(video)["pixel_values"]
    with torch.no_grad():
        expected = model.backbone(pixel_values).pooler_output.mean(0)
    torch.testing.assert_close(feature, expected)
    assert extract(video) == pytest.approx(expected.tolist(), abs=1e-5)  # a list by default


def test_other_models_keep_transformers_video_classification(tiny_ucf_root, tmp_path):
    """hf_vssl serves the task for every model: a VideoMAE folder gets transformers' results."""
    config = VideoMAEConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
        image_size=32, patch_size=16, num_frames=4, tubelet_size=2, num_labels=2,
    )  # fmt: skip
    VideoMAEForVideoClassification(config).save_pretrained(tmp_path)
    VideoMAEImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(tmp_path)
    video = str(next(tiny_ucf_root.glob("MoveRight/*.mp4")))
    ours = pipeline("video-classification", model=str(tmp_path))
    theirs = pipeline("video-classification", model=str(tmp_path), pipeline_class=VideoClassificationPipeline)
    assert isinstance(ours, VsslVideoClassificationPipeline)
    assert ours(video) == theirs(video)
    # registered with transformers' registry, keeping the task's default model
    _, entry, _ = PIPELINE_REGISTRY.check_task("video-classification")
    assert entry["impl"] is VsslVideoClassificationPipeline and "default" in entry


@pytest.mark.skipif(
    not HAS_TORCHVISION, reason="torchvision is not installed: AutoVideoProcessor cannot load"
)
def test_auto_video_processor_loads_the_saved_processor(tiny_ucf_root, classifier_dir):
    from transformers import AutoVideoProcessor

    from hf_vssl.data.processor import VsslTorchvisionVideoProcessor

    loaded = AutoVideoProcessor.from_pretrained(classifier_dir)
    assert isinstance(loaded, VsslTorchvisionVideoProcessor)
    saved = VsslVideoProcessor.from_pretrained(classifier_dir)
    assert loaded.processor == saved
    video = next(tiny_ucf_root.glob("MoveRight/*.mp4"))
    torch.testing.assert_close(loaded(video)["pixel_values"], saved(video)["pixel_values"])
