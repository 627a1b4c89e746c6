"""The loop's typed contract with models and datasets (`hf_vssl.training.hooks`)."""

from __future__ import annotations

from transformers import AutoModelForVideoClassification

from hf_vssl.methods import build_method_config
from hf_vssl.training.hooks import NO_HOOKS, DatasetHooks, TrainingHooks, model_hooks
from hf_vssl.training.pretrain import build_train_dataset


def test_pretraining_models_get_their_hooks_and_a_classifier_gets_none(tiny_spec):
    model = tiny_spec.model_class(build_method_config(tiny_spec.name))
    assert isinstance(model, TrainingHooks) and model_hooks(model) is model
    classifier = AutoModelForVideoClassification.from_config(model.backbone.config)
    assert model_hooks(classifier) is NO_HOOKS


def test_a_clip_dataset_gives_its_epoch_repeats_and_collate(tiny_spec, tiny_dataset):
    config = build_method_config(tiny_spec.name, overrides={"repeated_samples": 2})
    clips = build_train_dataset(tiny_spec, config, tiny_dataset["train"], seed=0)
    hooks = DatasetHooks.of(clips)
    hooks.set_epoch(3)
    assert clips.epoch == 3 and hooks.repeats == 2 and hooks.collate is clips.collate_fn
    plain = DatasetHooks.of(list(range(4)))
    assert plain.repeats == 1 and plain.collate is None
