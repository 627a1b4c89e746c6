"""Probe, retrieval and feature extraction on inputs whose answers are known."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

from hf_vssl.data.augment import normalize, to_float_clips
from hf_vssl.data.processor import VsslVideoProcessor
from hf_vssl.data.sources import load_video_dataset
from hf_vssl.evaluation.features import ClipOutputs, cached_backbone_features
from hf_vssl.evaluation.probe import ProbeArguments, linear_probe
from hf_vssl.evaluation.retrieval import evaluate_retrieval
from hf_vssl.evaluation.runner import default_processor, quiet_loading
from hf_vssl.methods.pace import PaceConfig, PaceForPretraining
from hf_vssl.training.loop import TrainingArguments, make_accelerator


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return AutoModel.from_config(AutoConfig.for_model("vssl-r3d", depth=10, width_multiplier=0.125))


def _label_features(num_videos: int, clips: int, dim: int, num_classes: int, seed: int) -> ClipOutputs:
    """Clip features = a class code + noise: a linear probe can be perfect on them."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_videos) % num_classes
    codes = torch.randn(num_classes, dim, generator=generator)
    video_index = torch.arange(num_videos).repeat_interleave(clips)
    outputs = codes[labels[video_index]] + 0.1 * torch.randn(len(video_index), dim, generator=generator)
    return ClipOutputs(outputs=outputs, video_index=video_index, labels=labels)


@pytest.mark.parametrize("vicc_head", [False, True])
def test_probe_on_features_that_encode_the_label_is_perfect(backbone, vicc_head, tmp_path):
    dim = backbone.config.hidden_size
    train, test = _label_features(40, 3, dim, 5, seed=1), _label_features(15, 3, dim, 5, seed=1)
    args = ProbeArguments(epochs=30, learning_rate=1e-2, batchnorm=vicc_head, l2_norm=vicc_head)
    metrics, classifier = linear_probe(backbone, train, test, [f"c{i}" for i in range(5)], args)
    assert metrics == {"top1": 1.0, "top5": 1.0}
    # the probe is a whole video classifier: frozen backbone + the trained head
    classifier.save_pretrained(tmp_path)
    reloaded = AutoModelForVideoClassification.from_pretrained(tmp_path)
    assert reloaded.config.freeze_backbone and reloaded.config.id2label[4] == "c4"
    assert torch.equal(reloaded.classifier.weight, classifier.classifier.weight)


def test_the_default_probe_head_is_the_released_one_and_reads_small_features_by_what_they_separate(backbone):
    """A random init's features are ~100x smaller than a trained network's. The default head (L2 -> BN ->
    linear, ViCC / CoCLR's `main_classifier.py --train_what last`) scores them by what they tell apart; the
    plain linear head under the same Adam recipe also measures their scale."""
    default = ProbeArguments(epochs=30)
    assert (default.l2_norm, default.batchnorm, default.norm_order) == (True, True, "l2_bn")
    dim, names = backbone.config.hidden_size, [f"c{i}" for i in range(5)]
    train, test = (
        dataclasses.replace(features, outputs=1e-2 * features.outputs)
        for features in (_label_features(40, 3, dim, 5, seed=1), _label_features(15, 3, dim, 5, seed=1))
    )
    assert linear_probe(backbone, train, test, names, default)[0]["top1"] == 1.0
    plain = dataclasses.replace(default, l2_norm=False, batchnorm=False)
    assert linear_probe(backbone, train, test, names, plain)[0]["top1"] < 0.6


def test_probe_on_features_without_label_information_is_near_chance(backbone):
    dim = backbone.config.hidden_size
    train, test = (
        _label_features(40, 3, dim, 5, seed=1),
        _label_features(40, 3, dim, 5, seed=2),
    )  # other codes
    metrics, _ = linear_probe(backbone, train, test, [f"c{i}" for i in range(5)], ProbeArguments(epochs=20))
    assert metrics["top1"] < 0.6


def test_retrieval_of_a_set_against_itself_is_perfect():
    features = _label_features(20, 2, 8, 4, seed=0)
    recall = evaluate_retrieval(features, features, ks=(1, 5))
    assert recall == {"R@1": 1.0, "R@5": 1.0}


def test_clip_outputs_average_per_video():
    outputs = ClipOutputs(torch.tensor([[1.0], [3.0], [10.0]]), torch.tensor([0, 0, 1]), torch.tensor([2, 1]))
    assert outputs.video_means().flatten().tolist() == [2.0, 10.0]


def test_processor_cuts_and_crops():
    processor = VsslVideoProcessor(
        num_frames=4, crop_size=32, frame_size=[40, 50], num_clips=3, ten_crop=True
    )
    assert processor.clip_indices(20).shape == (3, 4)
    clips = torch.randint(0, 255, (3, 4, 40, 50, 3), dtype=torch.uint8)
    crops = processor.preprocess_clips(clips)
    assert crops.shape == (30, 3, 4, 32, 32)
    centre = dataclasses.replace(processor, ten_crop=False).preprocess_clips(clips)
    torch.testing.assert_close(crops[::10], centre)  # the first crop of each clip is the centre crop
    torch.testing.assert_close(crops[5::10], centre.flip(-1))  # ... and the sixth its mirror image
    top_left = normalize(to_float_clips(clips[:, :, :32, :32]))
    torch.testing.assert_close(crops[1::10], top_left)
    dense = VsslVideoProcessor(
        num_frames=4, crop_size=32, frame_size=[40, 50], sampling="dense", window_stride=4
    )
    assert dense.clip_indices(20).shape == (5, 4)
    with pytest.raises(ValueError, match="crop_size 64 is larger than the decoded frames 40x50"):
        VsslVideoProcessor(crop_size=64, frame_size=[40, 50])


def test_feature_extraction_on_real_videos_is_cached(backbone, tiny_ucf_root, tmp_path):
    dataset = load_video_dataset(tiny_ucf_root)
    accelerator = make_accelerator(TrainingArguments(output_dir=tmp_path), trackers=False)
    processor = VsslVideoProcessor(num_frames=4, crop_size=32, frame_size=[40, 50], num_clips=2)
    first = cached_backbone_features(
        backbone, dataset["test"], processor, accelerator=accelerator, cache_dir=tmp_path, num_workers=0
    )
    videos = len(dataset["test"])
    assert first.outputs.shape == (2 * videos, backbone.config.hidden_size)
    assert first.video_index.tolist() == [i for i in range(videos) for _ in range(2)]
    assert first.labels.tolist() == dataset["test"]["label"]
    assert len(list(tmp_path.glob("features-*.safetensors"))) == 1
    again = cached_backbone_features(
        backbone, dataset["test"], processor, accelerator=accelerator, cache_dir=tmp_path, num_workers=0
    )
    assert torch.equal(first.outputs, again.outputs)


def test_evaluation_defaults_to_the_processor_saved_with_the_model(backbone, tmp_path):
    plain = tmp_path / "plain"
    backbone.save_pretrained(plain)
    assert default_processor(backbone, str(plain)) == VsslVideoProcessor()  # the papers' protocol
    saved = VsslVideoProcessor(num_frames=8, frame_size=[64, 80], crop_size=48, ten_crop=True)
    saved.save_pretrained(plain)
    assert default_processor(backbone, str(plain)) == saved
    assert default_processor(backbone, str(plain), num_frames=4) == dataclasses.replace(saved, num_frames=4)
    # a pretraining checkpoint without a saved processor: the one its method config derives
    config = PaceConfig(
        num_frames=8, crop_size=64, frame_size=[72, 96],
        backbone_config={"model_type": "vssl-r3d", "depth": 10, "width_multiplier": 0.125},
    )  # fmt: skip
    PaceForPretraining(config).save_pretrained(tmp_path / "pace")
    with quiet_loading():
        loaded = AutoModel.from_pretrained(tmp_path / "pace")
    assert default_processor(loaded, str(tmp_path / "pace")) == config.video_processor()
    assert config.video_processor().frame_size == [72, 96]
