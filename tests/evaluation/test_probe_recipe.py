"""The probe head's order (L2 -> BN -> linear, as ViCC / CoCLR's released model/classifier.py) and the
released probe recipe (ViCC slurm_scripts/eval/lin-rgb-2.sh + src/eval/main_classifier.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from huggingface_hub.errors import StrictDataclassError
from transformers import AutoConfig, AutoModel

from hf_vssl.data.processor import VsslVideoProcessor
from hf_vssl.data.sources import class_names, load_video_dataset
from hf_vssl.evaluation.classifier import build_classifier
from hf_vssl.evaluation.probe import RELEASED_PROBE, ProbeArguments, released_linear_probe
from hf_vssl.training.loop import TrainingArguments, make_accelerator


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return AutoModel.from_config(AutoConfig.for_model("vssl-r3d", depth=10, width_multiplier=0.125))


@pytest.mark.parametrize("order", ["l2_bn", "bn_l2"])
def test_probe_head_order(backbone, order):
    classifier = build_classifier(
        backbone, ["a", "b"], freeze_backbone=True, dropout=0.0, probe_batchnorm=True, probe_l2_norm=True,
        probe_norm_order=order,
    )  # fmt: skip
    bn = classifier.probe_bn
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    classifier.eval()
    features = torch.randn(5, backbone.config.hidden_size)
    expected = bn(F.normalize(features, dim=1)) if order == "l2_bn" else F.normalize(bn(features), dim=1)
    torch.testing.assert_close(classifier.forward_head(features, pre_logits=True), expected)


def test_probe_defaults_are_the_released_head():
    # released model/classifier.py: F.normalize before final_bn; final_bn = nn.BatchNorm1d(feature_size)
    # (affine, momentum 0.1, weight 1, bias 0); train_what "last": use_dropout False
    assert ProbeArguments().norm_order == "l2_bn"
    assert AutoConfig.for_model("vssl-r3d").probe_norm_order == "l2_bn"
    bn = build_classifier(
        AutoModel.from_config(AutoConfig.for_model("vssl-r3d", depth=10, width_multiplier=0.125)),
        ["a"], freeze_backbone=True, dropout=0.0, probe_batchnorm=True,
    ).probe_bn  # fmt: skip
    assert bn.affine and bn.momentum == 0.1
    assert torch.equal(bn.weight, torch.ones_like(bn.weight)) and torch.equal(
        bn.bias, torch.zeros_like(bn.bias)
    )
    with pytest.raises(StrictDataclassError, match="probe_norm_order must be one of"):
        AutoConfig.for_model("vssl-r3d", probe_norm_order="l2_only")


def test_released_probe_recipe_values():
    # ViCC slurm_scripts/eval/lin-rgb-2.sh: --optim sgd --lr 1e-1 --wd 1e-3 --epochs 100 --schedule 60 80
    assert (RELEASED_PROBE.optimizer, RELEASED_PROBE.learning_rate, RELEASED_PROBE.weight_decay) == (
        "sgd",
        0.1,
        1e-3,
    )
    assert (RELEASED_PROBE.epochs, RELEASED_PROBE.lr_schedule, RELEASED_PROBE.lr_milestones) == (
        100,
        "step",
        [60, 80],
    )
    # ViCC src/eval/main_classifier.py: optim.SGD(momentum=0.9); adjust_learning_rate: x0.1 at each milestone
    assert (RELEASED_PROBE.momentum, RELEASED_PROBE.recipe().lr_decay_factor) == (0.9, 0.1)
    # lin-rgb-2.sh: --batch_size 32 per GPU x --gpu 0,1,2,3 (the run folder says bs128)
    assert RELEASED_PROBE.batch_size == 128
    # main_classifier.py train_what "last": use_dropout False; the backbone frozen
    assert (RELEASED_PROBE.dropout, RELEASED_PROBE.backbone_lr_multiplier) == (0.0, 0.0)
    # main_classifier.py get_transform('train'): RandomSizedCrop(bottom_area=0.2), ColorJitter(0.4, 0.4, 0.4,
    # 0.1, p=0.3, consistent=True); transform_train_cuda: RandomHorizontalFlip (p 0.5)
    assert (RELEASED_PROBE.crop_scale, RELEASED_PROBE.flip_p) == ([0.2, 1.0], 0.5)
    assert (RELEASED_PROBE.color_jitter, RELEASED_PROBE.color_jitter_p) == ([0.4, 0.4, 0.4, 0.1], 0.3)


def test_released_probe_trains_only_the_head_on_augmented_clips(backbone, tiny_ucf_root, tmp_path):
    dataset = load_video_dataset(tiny_ucf_root)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    processor = VsslVideoProcessor(num_frames=4, crop_size=32, frame_size=[40, 50], num_clips=1)
    training = TrainingArguments(output_dir=tmp_path, num_workers=0, max_steps=2, progress_bar=False)
    recipe = dataclasses.replace(RELEASED_PROBE, batch_size=8)  # the tiny set has fewer than 128 videos
    metrics, classifier, result, logits = released_linear_probe(
        backbone, dataset, class_names(dataset["train"]), processor, ProbeArguments(epochs=1), training,
        accelerator=make_accelerator(training, trackers=False), recipe=recipe,
    )  # fmt: skip
    assert result.global_step == 2 and set(metrics) == {"top1", "top5"}
    assert logits.num_videos == len(dataset["test"])
    config = classifier.config
    assert config.freeze_backbone and config.probe_l2_norm and config.probe_batchnorm
    assert (config.probe_norm_order, config.classifier_dropout) == ("l2_bn", 0.0)
    for name, value in classifier.backbone.state_dict().items():
        assert torch.equal(value, before[name]), name  # frozen, BN statistics included (eval mode)
    assert classifier.probe_bn.num_batches_tracked.item() == 2  # the head's BN trained
