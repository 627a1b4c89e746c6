"""Finetuning through the shared loop: the new head trains, the backbone follows its lr multiplier,
and the result is a reloadable video classifier scored with the multi-clip protocol."""

from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

from hf_vssl.data.processor import VsslVideoProcessor
from hf_vssl.data.sources import class_names, load_video_dataset
from hf_vssl.evaluation.classifier import build_classifier
from hf_vssl.evaluation.finetune import FinetuneArguments, finetune
from hf_vssl.training.loop import TrainingArguments, make_accelerator


def test_finetune_with_a_frozen_backbone_lr_trains_only_the_head(tiny_ucf_root, tmp_path):
    dataset = load_video_dataset(tiny_ucf_root)
    torch.manual_seed(0)
    backbone = AutoModel.from_config(AutoConfig.for_model("vssl-r3d", depth=10, width_multiplier=0.125))
    before = {k: v.clone() for k, v in backbone.named_parameters()}
    processor = VsslVideoProcessor(num_frames=4, crop_size=32, frame_size=[40, 50], num_clips=2)
    args = FinetuneArguments(
        epochs=1, batch_size=8, learning_rate=0.1, backbone_lr_multiplier=0.0, weight_decay=0.0
    )
    training = TrainingArguments(output_dir=tmp_path, num_workers=0, max_steps=2, progress_bar=False)
    accelerator = make_accelerator(training)
    metrics, classifier, result, logits = finetune(
        backbone, dataset, class_names(dataset["train"]), processor, args, training, accelerator=accelerator
    )
    assert result.global_step == 2 and set(metrics) == {"top1", "top5"}
    assert logits.num_videos == len(dataset["test"]) and logits.skipped == []
    for name, value in classifier.backbone.named_parameters():
        assert torch.equal(value, before[name]), name  # lr x 0
    torch.manual_seed(training.seed)  # finetune builds its head right after seeding: its initial weights
    initial = build_classifier(
        backbone, class_names(dataset["train"]), freeze_backbone=False, dropout=args.dropout
    )
    assert not torch.equal(initial.classifier.weight, classifier.classifier.weight)  # the head trained
    classifier.save_pretrained(tmp_path / "finetuned")
    reloaded = AutoModelForVideoClassification.from_pretrained(tmp_path / "finetuned")
    assert reloaded.config.id2label == classifier.config.id2label
    assert torch.equal(reloaded.classifier.weight, classifier.classifier.weight)
