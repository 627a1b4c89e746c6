"""One typed config per run: the fields every method shares are declared and validated once, on
`VsslPretrainingConfig`; a wrong value fails at construction naming the field, the value and the range."""

from __future__ import annotations

import dataclasses

import pytest
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import PreTrainedConfig

from hf_vssl.methods.mfo import MFOConfig
from hf_vssl.methods.modeling_pretraining import VsslPretrainingConfig, own_field_names
from hf_vssl.methods.pace import PaceConfig
from hf_vssl.methods.sdc import SDCConfig
from hf_vssl.methods.vicc import ViCCConfig
from hf_vssl.optim import RECIPE_FIELDS
from hf_vssl.typed_fields import FieldTypeError

METHOD_CONFIGS = (ViCCConfig, PaceConfig, MFOConfig, SDCConfig)
SHARED = {f.name for f in dataclasses.fields(VsslPretrainingConfig)} - {
    f.name for f in dataclasses.fields(PreTrainedConfig)
}


def test_the_shared_fields_are_declared_once_on_the_base_config():
    assert set(RECIPE_FIELDS) <= SHARED  # the whole optimisation recipe
    assert {"num_frames", "frame_size", "crop_size", "crop_scale", "flip_p", "color_jitter"} <= SHARED
    for cls in METHOD_CONFIGS:
        assert SHARED - {"backbone_config"} <= set(own_field_names(cls)), cls.__name__


@pytest.mark.parametrize(
    ("cls", "values", "message"),
    [  # the values issue 8 lists: each was accepted before and failed later
        (ViCCConfig, {"optimizer": "adamx"}, "optimizer must be one of .* got 'adamx'"),
        (PaceConfig, {"lr_schedule": "bogus"}, "lr_schedule must be one of .* got 'bogus'"),
        (MFOConfig, {"batch_size": 0}, "batch_size must be >= 1, got 0"),
        (SDCConfig, {"epochs": -3}, "epochs must be >= 1, got -3"),
        (
            PaceConfig,
            {"lr_milestones": [12, 6]},
            r"lr_milestones must be strictly increasing .* got \[12, 6\]",
        ),
        (ViCCConfig, {"momentum": 1.5}, r"momentum must be in \[0, 1\), got 1.5"),
        (MFOConfig, {"learning_rate": float("nan")}, "learning_rate must be a finite number > 0"),
        (SDCConfig, {"flip_p": 2.0}, r"flip_p must be a probability in \[0, 1\], got 2.0"),
        (PaceConfig, {"color_jitter": [0.1, 0.1]}, "color_jitter must be 4 strengths"),
        (MFOConfig, {"crop_scale": [0.9, 0.5]}, "crop_scale must be an area range"),
        (ViCCConfig, {"frame_size": [100, 100]}, "crop_size 128 is larger than the decoded frames 100x100"),
        (PaceConfig, {"num_frames": 0}, "num_frames must be >= 1, got 0"),
        (MFOConfig, {"graph_weight": -1.0}, "graph_weight must be >= 0, got -1.0"),
        (MFOConfig, {"motion_reduction": 0}, "motion_reduction must be >= 1, got 0"),
        (SDCConfig, {"nce_dim": 0}, "nce_dim must be >= 1, got 0"),
    ],
)
def test_a_wrong_value_fails_at_construction_naming_the_field(cls, values, message):
    with pytest.raises(StrictDataclassClassValidationError, match=message):
        cls(**values)


def test_a_value_of_the_wrong_type_names_the_field_and_the_type():
    with pytest.raises(FieldTypeError, match=r"PaceConfig\.num_frames must be an int, got 'abc' \(str\)"):
        PaceConfig(num_frames="abc")
    with pytest.raises(FieldTypeError, match=r"SDCConfig\.learning_rate must be a float, got '1e-3'"):
        SDCConfig(learning_rate="1e-3")  # text is the CLI's to parse, not the config's
    with pytest.raises(FieldTypeError, match=r"MFOConfig\.use_aug_loss must be a bool"):
        MFOConfig(use_aug_loss=1)


def test_harmless_values_are_brought_to_the_field_type():
    config = PaceConfig(learning_rate=1, paces=(1, 2, 3), frame_size=(128, 171), epochs=18.0)
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config.paces == [1.0, 2.0, 3.0] and config.frame_size == [128, 171]
    assert config.epochs == 18 and isinstance(config.epochs, int)


def test_methods_override_defaults_not_declarations():
    # each method's paper recipe, read through the shared fields
    assert (ViCCConfig().optimizer, ViCCConfig().learning_rate, ViCCConfig().batch_size) == ("lars", 0.6, 192)
    assert (PaceConfig().lr_milestones, PaceConfig().crop_scale) == ([6, 12], None)  # fixed random crop
    assert (MFOConfig().optimizer, MFOConfig().lr_milestones) == ("adam", [70])
    assert (SDCConfig().epochs, SDCConfig().lr_milestones) == (200, [120, 160])


def test_the_video_processor_is_derived_from_the_config():
    processor = ViCCConfig(num_frames=16, crop_size=112, frame_size=[120, 160]).video_processor()
    assert (processor.num_frames, processor.crop_size, processor.frame_size) == (16, [112, 112], [120, 160])
    assert PaceConfig(frame_size=None).video_processor().frame_size is None  # native (prepared) size
