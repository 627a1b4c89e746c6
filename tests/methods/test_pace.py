"""Pace Prediction: labels of every Pace Prediction supp. pace configuration, training on the tiny synthetic
dataset, checkpoints and attention maps."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from huggingface_hub.errors import StrictDataclassError
from PIL import Image
from torch.utils.data import DataLoader
from transformers import AutoModel

from hf_vssl.data.clip_dataset import VideoClipDataset
from hf_vssl.data.decoding import decode_frames, video_path
from hf_vssl.data.loaders import load_ucf101
from hf_vssl.methods.pace import (
    SEED_003_CONFIGURATIONS,
    PaceConfig,
    PaceForPretraining,
    attention_maps,
    attention_overlay,
    save_attention_overlay,
)
from hf_vssl.methods.pace.views import PaceAugment
from hf_vssl.methods.registry import get_method

BACKBONE = {"model_type": "vssl-r2plus1d", "width_multiplier": 0.125}
TINY = {"num_frames": 4, "crop_size": 16, "frame_size": [16, 20], "batch_size": 4}


def tiny_config(**overrides) -> PaceConfig:
    return PaceConfig(**{"backbone_config": dict(BACKBONE), **TINY, **overrides})


def test_defaults_are_the_original_recipe():
    config = PaceConfig(backbone_config=dict(BACKBONE))
    assert config.backbone_config.variant == "compact" and config.paces == [1, 2, 3, 4]
    assert (config.num_frames, config.crop_size, config.frame_size) == (16, 112, [128, 171])
    assert (config.optimizer, config.learning_rate, config.weight_decay, config.momentum) == (
        "sgd",
        1e-3,
        5e-3,
        0.9,
    )
    assert (config.lr_milestones, config.epochs, config.batch_size) == ([6, 12], 18, 30)
    assert (config.lambda_cls, config.lambda_ctr, config.end_policy) == (1.0, 1.0, "wrap")


@pytest.mark.parametrize("name", sorted(SEED_003_CONFIGURATIONS))
def test_pace_labels_of_every_seed_configuration(name):
    row = SEED_003_CONFIGURATIONS[name]
    config = tiny_config(num_frames=16, start_anywhere=False, contrastive="same_context", **row)
    paces = [Fraction(p).limit_denominator(64) for p in row["paces"]]
    signed = row.get("backward_mode") == "signed"
    assert config.num_classes == len(paces) * (2 if signed else 1)
    sampler = get_method("pace").build_sampler(config)
    rng = np.random.default_rng(0)
    seen, directions = set(), set()
    for _ in range(60):
        sample = sampler(300, rng)  # long enough for every clip: no wrap
        labels = [int(sample.targets[f"pace{i}"]) for i in range(2)]
        assert labels[0] != labels[1]  # same context: two different paces of one video
        for i, label in enumerate(labels):
            indices = sample.views[f"clip{i}"]
            pace = paces[label % len(paces)]
            backward = bool(indices[0] > indices[-1])
            expected = np.array([math.floor(k * pace) for k in range(16)])
            forward_order = indices[::-1] if backward else indices
            assert np.array_equal(forward_order - forward_order[0], expected), (name, label, indices)
            if signed:
                assert backward == (label >= len(paces))
            seen.add(label)
            directions.add(backward)
    assert seen == set(range(config.num_classes))
    assert directions == ({False, True} if row.get("backward_mode") in ("random", "signed") else {False})


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"paces": [1, 1, 2]}, "paces"),
        ({"paces": [0, 1]}, "paces"),
        ({"backward_mode": "reverse"}, "backward_mode"),
        ({"contrastive": "both"}, "contrastive"),
        ({"lambda_cls": 0.0, "lambda_ctr": 0.0}, "lambda_cls"),
        ({"crop_size": 64}, "crop_size"),
    ],
)
def test_config_errors_name_the_field(overrides, field):
    with pytest.raises((ValueError, StrictDataclassError), match=field):
        tiny_config(**overrides)


def _inputs(config: PaceConfig, root) -> dict:
    spec = get_method("pace")
    data = VideoClipDataset(
        load_ucf101(root, split=1)["train"], spec.build_sampler(config), frame_size=tuple(config.frame_size)
    )
    batch = next(iter(DataLoader(data, batch_size=4)))
    torch.manual_seed(0)
    inputs = spec.build_augment(config)(batch)
    views = config.clips_per_video
    assert inputs["clips"].shape == (4, views, 3, 4, 16, 16) and inputs["pace_labels"].shape == (4, views)
    assert torch.equal(inputs["pace_labels"][:, 0], batch["targets"]["pace0"])
    return inputs


@pytest.mark.parametrize("contrastive", ["none", "same_context", "same_pace"])
def test_training_lowers_the_loss(tiny_ucf_root, contrastive):
    config = tiny_config(contrastive=contrastive)
    inputs = _inputs(config, tiny_ucf_root)
    torch.manual_seed(0)
    model = PaceForPretraining(config).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(4):
        out = model(**inputs)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(out.loss.item())
    assert losses[-1] < losses[0] - 0.05, losses
    assert set(out.loss_terms) == ({"cls"} if contrastive == "none" else {"cls", "ctr"})
    labels = inputs["pace_labels"].flatten()
    assert out.logits.shape == (labels.numel(), 4)
    accuracy = (out.logits.argmax(dim=1) == labels).float().mean()
    torch.testing.assert_close(out.metrics["pace_accuracy"], accuracy)


def test_lambdas_weight_the_terms():
    clips, labels = torch.randn(3, 2, 3, 4, 16, 16), torch.tensor([[0, 1], [2, 3], [1, 0]])
    torch.manual_seed(0)
    plain = PaceForPretraining(tiny_config()).eval()
    weighted = PaceForPretraining(tiny_config(lambda_cls=0.5, lambda_ctr=2.0)).eval()
    weighted.load_state_dict(plain.state_dict())
    a, b = plain(clips, labels), weighted(clips, labels)
    torch.testing.assert_close(b.loss_terms["cls"], 0.5 * a.loss_terms["cls"])
    torch.testing.assert_close(b.loss_terms["ctr"], 2.0 * a.loss_terms["ctr"])
    with pytest.raises(ValueError, match=r"\(B, 2, C, T, H, W\)"):
        plain(clips[:, :1], labels[:, :1])


def test_checkpoint_is_a_backbone_and_restores_the_head(tmp_path):
    model = PaceForPretraining(tiny_config(**SEED_003_CONFIGURATIONS["table4-backwards-8-classes"]))
    model.save_pretrained(tmp_path)
    backbone = AutoModel.from_pretrained(tmp_path)
    assert (
        backbone.config.pretraining["method"] == "pace"
        and backbone.config.pretraining["backward_mode"] == "signed"
    )
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(backbone.state_dict()[key], value), key
    restored = PaceForPretraining.from_pretrained(tmp_path)
    assert restored.config.num_classes == 8
    assert torch.equal(restored.pace_head.weight, model.pace_head.weight)


def test_attention_maps_and_overlay(tiny_ucf_root, tmp_path):
    model = PaceForPretraining(tiny_config())
    video = video_path(load_ucf101(tiny_ucf_root, split=1)["test"][0]["video"])
    frames = decode_frames(video, [2 * i for i in range(8)], size=(32, 32))  # a clip at pace 2
    clips = torch.randn(2, 3, 8, 32, 32)
    maps = attention_maps(model, clips)
    assert maps.shape == (2, 8, 32, 32) and model.training  # the model's mode is restored
    assert maps.amin(dim=(1, 2, 3)).eq(0).all() and maps.amax(dim=(1, 2, 3)).eq(1).all()
    path = attention_overlay(model, frames, tmp_path / "figure" / "attention.png", every=3)
    with Image.open(path) as image:
        assert image.size == (32 * 3, 32)  # frames 0, 3, 6 side by side
    overlay = np.asarray(
        Image.open(save_attention_overlay(frames, np.zeros((8, 32, 32)), tmp_path / "a.png", 8, 0.0))
    )
    assert np.array_equal(overlay, frames[0])  # alpha 0 leaves the frame untouched
    with pytest.raises(ValueError, match="same size"):
        save_attention_overlay(frames, np.zeros((8, 16, 16)), tmp_path / "b.png")


@pytest.mark.parametrize(
    "backbone,frames,size",
    [
        ({"model_type": "vssl-c3d", "width_multiplier": 0.125}, 8, 32),
        ({"model_type": "vssl-r3d", "depth": 18, "width_multiplier": 0.125}, 4, 16),
    ],
)
def test_other_backbones(backbone, frames, size):
    config = tiny_config(backbone_config=backbone, num_frames=frames, crop_size=size, frame_size=[size, size])
    model = PaceForPretraining(config)
    out = model(torch.randn(2, 2, 3, frames, size, size), torch.tensor([[0, 1], [2, 3]]))
    assert out.logits.shape == (4, 4) and torch.isfinite(out.loss)
    assert out.embeddings.shape == (4, config.backbone_config.hidden_size)


def test_contrastive_term_defaults_to_pooled_features_at_tau_1_and_can_project():
    """Our reading of Pace Prediction supp.'s algorithms (z = f(x), sim = dot product, no temperature) is the
    default; the SimCLR-style head and temperature (video-pace issue #4) change the term and train the
    head."""
    from hf_vssl.nn.contrastive import group_info_nce

    assert (PaceConfig().contrastive_projection_dim, PaceConfig().contrastive_temperature) == (0, 1.0)
    clips, labels = torch.randn(3, 2, 3, 4, 16, 16), torch.tensor([[0, 1], [2, 3], [1, 0]])
    groups = torch.arange(3).repeat_interleave(2)  # same context: the two clips of a video
    torch.manual_seed(0)
    plain = PaceForPretraining(tiny_config()).eval()
    assert plain.contrastive_head is None
    out = plain(clips, labels)
    features = plain.backbone(clips.flatten(0, 1)).pooler_output
    torch.testing.assert_close(out.loss_terms["ctr"], group_info_nce(features, groups, 1.0).detach())

    projected = PaceForPretraining(tiny_config(contrastive_projection_dim=8, contrastive_temperature=0.1))
    projected.load_state_dict(plain.state_dict(), strict=False)
    projected.eval()
    out = projected(clips, labels)
    expected = group_info_nce(projected.contrastive_head(features), groups, 0.1)
    torch.testing.assert_close(out.loss_terms["ctr"], expected.detach())
    assert projected.contrastive_head[-1].out_features == 8
    out.loss.backward()
    assert projected.contrastive_head[0].weight.grad.abs().sum() > 0
    # no contrastive term: no head (it would be an idle parameter under DDP)
    assert (
        PaceForPretraining(tiny_config(contrastive="none", contrastive_projection_dim=8)).contrastive_head
        is None
    )
    with pytest.raises((ValueError, StrictDataclassError), match="contrastive_projection_dim"):
        tiny_config(contrastive_projection_dim=-1)


def test_pace_accuracy_on_the_test_split_counts_every_clip(tiny_ucf_root):
    """A model rigged to always answer pace class 0 scores the share of class-0 clips that the pace
    sampler draws at the given seed over the test split (Pace Prediction supp. Table 1 "rea. acc.")."""
    from hf_vssl.methods.pace import pace_accuracy
    from hf_vssl.methods.pace.evaluation import PaceEvaluationViews

    config = tiny_config()
    test = load_ucf101(tiny_ucf_root, split=1)["test"]
    model = PaceForPretraining(config).train()
    with torch.no_grad():
        model.pace_head.weight.zero_()
        model.pace_head.bias.copy_(torch.tensor([10.0, 0.0, 0.0, 0.0]))
    sampled = VideoClipDataset(test, get_method("pace").build_sampler(config), frame_size=(16, 20), seed=3)
    labels = torch.stack([sampled[i]["targets"][f"pace{v}"] for i in range(len(test)) for v in range(2)])
    expected = (labels == 0).float().mean().item()
    assert 0 < expected < 1  # the check can tell a wrong count apart
    assert pace_accuracy(model, test, seed=3, batch_size=3) == pytest.approx(expected)
    assert model.training  # the mode is restored
    # any model: the same clips at a fixed seed, whatever the batch; the views have no randomness
    torch.manual_seed(0)
    other = PaceForPretraining(config)
    assert pace_accuracy(other, test, seed=1) == pace_accuracy(other, test, seed=1, batch_size=5)
    batch = next(iter(DataLoader(sampled, batch_size=2)))
    views = PaceEvaluationViews(config)
    assert torch.equal(views(batch)["clips"], views(batch)["clips"])
    assert views(batch)["clips"].shape == (2, 2, 3, 4, 16, 16)


def test_pace_accuracy_script_scores_a_saved_checkpoint(tiny_ucf_root, tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    from hf_vssl.methods.pace import pace_accuracy

    script = Path(__file__).parents[2] / "scripts" / "pace_accuracy.py"
    spec = importlib.util.spec_from_file_location("pace_accuracy_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = PaceForPretraining(tiny_config())
    model.save_pretrained(tmp_path / "model")
    accuracy = module.main(
        ["--model", str(tmp_path / "model"), "--dataset", str(tiny_ucf_root), "--seed", "2"]
    )
    test = load_ucf101(tiny_ucf_root, split=1)["test"]
    assert accuracy == pace_accuracy(model, test, seed=2)
    assert f"pace accuracy {100 * accuracy:.1f}% on {len(test)} test videos" in capsys.readouterr().out


def test_epoch_repeats_default_is_the_released_schedule():
    """released datasets/ucf101.py (laura-wang/video-pace): `self.rgb_lines = list(lines) * 10`;
    released train.py: 18 epochs, StepLR(step_size=6). UCF-101 split 1 has 9537 training videos."""
    config = PaceConfig(backbone_config=dict(BACKBONE))
    assert config.epoch_repeats == 10
    steps_per_epoch = 9537 * config.epoch_repeats // config.batch_size
    assert steps_per_epoch * config.epochs == 57222  # ~57k iterations at batch 30
    assert [m * steps_per_epoch for m in config.lr_milestones] == [19074, 38148]  # ~1/3 and ~2/3


def test_epoch_repeats_multiply_the_steps_of_an_epoch(tiny_ucf_root, tmp_path):
    from hf_vssl.training.loop import TrainingArguments, fit
    from hf_vssl.training.pretrain import build_train_dataset

    spec = get_method("pace")
    videos = load_ucf101(tiny_ucf_root)["train"].select(range(4))
    steps = {}
    for repeats in (1, 3):
        config = tiny_config(epochs=1, batch_size=4, epoch_repeats=repeats, contrastive="none")
        args = TrainingArguments(output_dir=tmp_path / str(repeats), num_workers=0, progress_bar=False)
        train = build_train_dataset(spec, config, videos, seed=0)  # what `pretrain` trains on
        result = fit(
            PaceForPretraining(config), train, spec.build_augment(config), config.optimizer_recipe, args
        )
        steps[repeats] = result.global_step
    assert steps == {1: 1, 3: 3}


def test_repeated_videos_draw_their_own_clips(tiny_ucf_root):
    config = tiny_config(epoch_repeats=3)
    train = load_ucf101(tiny_ucf_root)["train"]
    data = VideoClipDataset(
        train, get_method("pace").build_sampler(config), frame_size=(16, 20), epoch_repeats=3
    )
    assert len(data) == 3 * len(train)
    first, repeat = data[0], data[len(train)]
    assert first["index"] == repeat["index"] == 0  # the same video ...
    assert not torch.equal(first["views"]["clip0"], repeat["views"]["clip0"])  # ... another clip


@pytest.mark.parametrize("input_format", ["bgr_255", "rgb_imagenet"])
def test_the_saved_processor_feeds_evaluation_what_pace_trained_on(input_format):
    """The release feeds raw 0-255 BGR (video-pace train.py, cv2 frames): the processor saved with a
    Pace model must give the test clips in the same format, not ImageNet-normalised RGB."""
    config = PaceConfig(
        crop_size=32, frame_size=[32, 40], color_jitter_p=0.0, flip_p=0.0, input_format=input_format
    )
    clips = torch.randint(0, 256, (2, 4, 32, 32, 3), dtype=torch.uint8)  # frames the crop size: no crop
    trained_on = PaceAugment(config)._clip(clips, None)
    torch.testing.assert_close(
        config.video_processor().preprocess_clips(clips), trained_on, atol=1e-3, rtol=0
    )
