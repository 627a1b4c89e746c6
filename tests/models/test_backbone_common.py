"""What every registered hf_vssl backbone must do: Auto dispatch, save / load, refusing wrong checkpoints,
classification heads and their losses, probe options, outputs, config checks, gradient checkpointing
and transformers' Backbone API (`AutoBackbone`).

The families are discovered from transformers' config registry, so a new one is tested as soon as it
registers; family-specific facts (parameter counts, layer shapes) live in test_<family>.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoBackbone, AutoConfig, AutoModel, AutoModelForVideoClassification
from transformers.modeling_outputs import BackboneOutput
from transformers.models.auto import auto_factory
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

import hf_vssl  # noqa: F401  (registers the backbones)
from hf_vssl.models import VsslBackbone, VsslBackboneConfig, VsslBackboneModel, VsslForVideoClassification

TINY = 0.125  # channels / 8: fast on CPU
# every family of the contract (preamble); discovery must find at least these
EXPECTED_FAMILIES = {"vssl-c3d", "vssl-r2plus1d", "vssl-r3d", "vssl-s3d"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.py


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def _registered_backbone_types() -> list[str]:
    """model_types whose AutoConfig entry is an hf_vssl backbone config."""
    types = {
        cls.model_type
        for cls in _subclasses(VsslBackboneConfig)
        if cls.model_type in CONFIG_MAPPING and CONFIG_MAPPING[cls.model_type] is cls
    }
    return sorted(types)


BACKBONE_TYPES = _registered_backbone_types()


def _config(model_type: str, **kwargs) -> VsslBackboneConfig:
    return AutoConfig.for_model(model_type, width_multiplier=TINY, **kwargs)


def _clips(config: VsslBackboneConfig, batch: int = 2, frames: int = 8, height: int = 32, width: int = 32):
    """clips: (B, C, T, H, W), large enough for every family (C3D needs T >= 8, H, W >= 16)."""
    return torch.randn(batch, config.in_channels, frames, height, width)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, VsslBackboneModel]]:
    """model_type -> (checkpoint folder, the eval-mode backbone saved there), built once per family."""
    cache: dict[str, tuple[Path, VsslBackboneModel]] = {}

    def get(model_type: str) -> tuple[Path, VsslBackboneModel]:
        if model_type not in cache:
            torch.manual_seed(0)
            model = AutoModel.from_config(_config(model_type)).train()
            with torch.no_grad():  # one training step of BN: running statistics off their init values
                model(_clips(model.config))
            path = tmp_path_factory.mktemp(model_type)
            model.eval().save_pretrained(path)
            cache[model_type] = (path, model)
        return cache[model_type]

    return get


def test_every_family_is_registered():
    assert set(BACKBONE_TYPES) >= EXPECTED_FAMILIES


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_auto_classes_dispatch_to_the_family(model_type):
    config = _config(model_type)
    family = type(config).__module__.rsplit(".", 1)[0]  # hf_vssl.models.<family>
    backbone = AutoModel.from_config(config)
    classifier = AutoModelForVideoClassification.from_config(config)
    assert isinstance(backbone, VsslBackboneModel) and type(backbone).config_class is type(config)
    assert isinstance(classifier, VsslForVideoClassification)
    assert type(classifier).backbone_class is type(backbone) and type(classifier.backbone) is type(backbone)
    assert type(backbone).__module__.startswith(family + ".")
    assert type(classifier).__module__.startswith(family + ".")


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_save_and_load_give_identical_outputs(model_type, saved):
    path, model = saved(model_type)
    assert {"config.json", "model.safetensors"} <= {p.name for p in path.iterdir()}
    assert any(b.abs().sum() > 0 for n, b in model.named_buffers() if n.endswith("running_mean"))
    loaded = AutoModel.from_pretrained(path).eval()
    assert type(loaded) is type(model)
    expected = model.state_dict()
    for name, tensor in loaded.state_dict().items():
        torch.testing.assert_close(tensor, expected[name], rtol=0, atol=0, msg=name)
    # outputs to float32 rounding, not bitwise: CPU convolutions sum in an order that depends on the
    # weights' memory alignment, and safetensors-loaded tensors sit at other offsets (seen: 3e-6 on a
    # 104 -> 48 1x1x1 conv)
    clips = _clips(model.config)
    with torch.no_grad():
        torch.testing.assert_close(loaded(clips).last_hidden_state, model(clips).last_hidden_state)


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_checkpoint_of_another_architecture_is_refused(model_type, saved):
    if len(BACKBONE_TYPES) < 2:
        pytest.skip("needs two registered families")
    other_type = BACKBONE_TYPES[(BACKBONE_TYPES.index(model_type) + 1) % len(BACKBONE_TYPES)]
    path, _ = saved(model_type)
    other_class = type(saved(other_type)[1])
    with pytest.raises(ValueError) as error:
        other_class.from_pretrained(path)
    message = str(error.value)
    assert str(path) in message and f"'{model_type}'" in message and f"'{other_type}'" in message


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_checkpoint_of_another_width_is_refused(model_type, saved):
    """No silent partial load: every tensor has the wrong shape, so loading must stop."""
    path, _ = saved(model_type)
    with pytest.raises((ValueError, RuntimeError), match=r"ignore_mismatched_sizes|does not match"):
        AutoModel.from_pretrained(path, config=AutoConfig.for_model(model_type, width_multiplier=2 * TINY))


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_backbone_checkpoint_loads_under_a_new_head(model_type, saved):
    path, model = saved(model_type)
    classifier = AutoModelForVideoClassification.from_pretrained(path, num_labels=5).eval()
    assert tuple(classifier.classifier.weight.shape) == (5, model.config.hidden_size)
    loaded = classifier.backbone.state_dict()
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded[name], tensor, rtol=0, atol=0, msg=name)
    with torch.no_grad():
        assert classifier(_clips(model.config)).logits.shape == (2, 5)


@pytest.mark.parametrize("model_type", BACKBONE_TYPES[:1])
def test_family_class_takes_config_overrides(model_type, saved):
    path, _ = saved(model_type)
    classification_class = type(AutoModelForVideoClassification.from_config(_config(model_type)))
    assert classification_class.from_pretrained(path, num_labels=5).config.num_labels == 5


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_frozen_backbone_gets_no_gradient_and_stays_in_eval(model_type):
    model = AutoModelForVideoClassification.from_config(
        _config(model_type, num_labels=3, freeze_backbone=True)
    )
    model.train()
    assert model.training and model.classifier.training
    assert not any(module.training for module in model.backbone.modules())
    statistics = {n: b.clone() for n, b in model.backbone.named_buffers() if "running" in n}
    model(_clips(model.config), labels=torch.tensor([0, 2])).loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.classifier.weight.grad is not None and model.classifier.weight.grad.abs().sum() > 0
    for name, buffer in model.backbone.named_buffers():
        if name in statistics:
            torch.testing.assert_close(buffer, statistics[name], rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_linear_probe_batchnorm_and_l2_norm(model_type):
    config = _config(model_type, num_labels=4, freeze_backbone=True, probe_batchnorm=True, probe_l2_norm=True)
    model = AutoModelForVideoClassification.from_config(config).train()
    clips = _clips(config)
    model(clips)
    assert model.probe_bn.num_batches_tracked.item() == 1
    seen = []
    model.classifier.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    with torch.no_grad():
        logits = model.eval()(clips).logits
        pooled = model.backbone(clips).pooler_output
    assert logits.shape == (2, 4)
    # released ViCC/CoCLR order (probe_norm_order "l2_bn"): L2-normalise, then BatchNorm, then linear
    torch.testing.assert_close(seen[0], model.probe_bn(torch.nn.functional.normalize(pooled, dim=1)))
    model.config.probe_norm_order = "bn_l2"  # BatchNorm first: unit-length features reach the linear layer
    with torch.no_grad():
        model(clips)
    torch.testing.assert_close(seen[1].norm(dim=1), torch.ones(2))


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_odd_input_size(model_type):
    model = AutoModel.from_config(_config(model_type)).eval()
    with torch.no_grad():
        out = model(_clips(model.config, batch=1, frames=8, height=96, width=128))
    assert out.pooler_output.shape == (1, model.config.hidden_size)
    assert out.last_hidden_state.shape[:2] == (1, model.config.hidden_size)
    assert out.last_hidden_state.shape[-1] >= out.last_hidden_state.shape[-2]  # W > H survives


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_too_small_input_gives_a_clear_error(model_type):
    """An empty time axis is too small for every family; padded families (S3D, R3D) accept 1x1x1."""
    model = AutoModel.from_config(_config(model_type)).eval()
    with pytest.raises(ValueError, match="too small"):
        model(_clips(model.config, batch=1, frames=0))


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_hidden_states_and_multilevel_features(model_type):
    model = AutoModel.from_config(_config(model_type)).eval()
    config = model.config
    with torch.no_grad():
        out = model(_clips(config), output_hidden_states=True, output_multilevel_features=True)
    assert len(out.hidden_states) == len(config.stage_names)
    assert [h.shape[1] for h in out.hidden_states] == [config.stage_channels[n] for n in config.stage_names]
    assert out.hidden_states[-1] is out.last_hidden_state
    assert len(out.multilevel_features) == 3
    assert tuple(f.shape[1] for f in out.multilevel_features) == config.multilevel_channels
    for name, feature in zip(config.multilevel_stages, out.multilevel_features):
        assert feature is out.hidden_states[config.stage_names.index(name)]
    with torch.no_grad():
        plain = model(_clips(config))
    assert plain.hidden_states is None and plain.multilevel_features is None


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
@pytest.mark.parametrize(("field", "value"), [("in_channels", 0), ("width_multiplier", 0.0)])
def test_bad_config_fails_naming_the_field(model_type, field, value):
    with pytest.raises(StrictDataclassClassValidationError, match=field):
        AutoConfig.for_model(model_type, **{field: value})


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_gradient_checkpointing_gives_the_same_gradients(model_type):
    torch.manual_seed(0)
    plain = AutoModel.from_config(_config(model_type)).train()
    checkpointed = copy.deepcopy(plain)
    checkpointed.activation_checkpointing_enable()  # `gradient_checkpointing_enable` is its deprecated alias
    assert checkpointed.gradient_checkpointing and not plain.gradient_checkpointing
    clips = _clips(plain.config)
    for model in (plain, checkpointed):
        model(clips).pooler_output.square().sum().backward()
    checkpointed_params = dict(checkpointed.named_parameters())
    for name, param in plain.named_parameters():
        grad = checkpointed_params[name].grad
        assert grad is not None, name
        torch.testing.assert_close(grad, param.grad, msg=name)


@pytest.fixture
def local_folders_load_through_auto_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers 5.24's `AutoBackbone.from_pretrained` asks the Hub whether its argument is a repository
    before loading (`hf_api().repo_exists`), which fails for a local folder (HFValidationError) and offline;
    the fake Hub answers yes, and the folder then loads as any `from_pretrained` folder does."""
    monkeypatch.setattr(
        auto_factory, "hf_api", lambda: SimpleNamespace(repo_exists=lambda *args, **kwargs: True)
    )


def _stage_maps(model: VsslBackboneModel, clips: torch.Tensor, names: list[str]) -> list[torch.Tensor]:
    """The AutoModel's hidden states of the stages `names`."""
    with torch.no_grad():
        hidden_states = model(clips, output_hidden_states=True).hidden_states
    return [hidden_states[model.config.stage_names.index(name)] for name in names]


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_auto_backbone_gives_the_maps_of_out_features(model_type):
    config = _config(model_type)
    out_features = list(config.multilevel_stages)
    backbone = AutoBackbone.from_config(_config(model_type, out_features=out_features)).eval()
    assert isinstance(backbone, VsslBackbone) and type(backbone).config_class is type(config)
    assert backbone.out_features == out_features
    assert backbone.out_indices == [config.stage_names.index(name) for name in out_features]
    model = AutoModel.from_config(config).eval()
    model.load_state_dict(backbone.state_dict())  # strict: the same weight names
    clips = _clips(config)
    with torch.no_grad():
        out = backbone(clips)
    assert isinstance(out, BackboneOutput) and out.hidden_states is None
    assert backbone.channels == [config.stage_channels[name] for name in out_features]
    assert [f.shape[1] for f in out.feature_maps] == backbone.channels
    for feature, expected in zip(out.feature_maps, _stage_maps(model, clips, out_features), strict=True):
        assert feature.shape == expected.shape
        torch.testing.assert_close(feature, expected)
    with torch.no_grad():
        every_stage = backbone(clips, output_hidden_states=True).hidden_states
    assert len(every_stage) == len(config.stage_names)


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_auto_backbone_defaults_to_the_last_stage_and_takes_out_indices(model_type):
    config = _config(model_type)
    assert config.out_features == [config.stage_names[-1]]
    assert _config(model_type, out_indices=[0, -1]).out_features == [
        config.stage_names[0],
        config.stage_names[-1],
    ]


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_unknown_out_feature_fails_at_construction_naming_it(model_type):
    config = _config(model_type)
    with pytest.raises(ValueError, match="Mixed_9z") as error:
        _config(model_type, out_features=[config.stage_names[0], "Mixed_9z"])
    assert str(list(config.stage_names)) in str(error.value)


@pytest.mark.parametrize("model_type", BACKBONE_TYPES)
def test_auto_model_checkpoint_loads_into_auto_backbone(
    model_type, saved, local_folders_load_through_auto_backbone
):
    path, model = saved(model_type)
    out_features = list(model.config.multilevel_stages)
    backbone, info = AutoBackbone.from_pretrained(path, out_features=out_features, output_loading_info=True)
    assert isinstance(backbone, VsslBackbone) and backbone.out_features == out_features
    assert not info["missing_keys"] and not info["unexpected_keys"]
    clips = _clips(model.config)
    with torch.no_grad():
        feature_maps = backbone.eval()(clips).feature_maps
    for feature, expected in zip(feature_maps, _stage_maps(model, clips, out_features), strict=True):
        torch.testing.assert_close(feature, expected)


@pytest.mark.parametrize("model_type", BACKBONE_TYPES[:1])
def test_saved_backbone_reloads_with_its_out_features(
    model_type, saved, tmp_path, local_folders_load_through_auto_backbone
):
    path, model = saved(model_type)
    out_features = [model.config.stage_names[1]]
    AutoBackbone.from_pretrained(path, out_features=out_features).save_pretrained(tmp_path)
    reloaded = AutoBackbone.from_pretrained(tmp_path)
    assert reloaded.out_features == out_features
    assert type(AutoModel.from_pretrained(tmp_path)) is type(model)  # the same checkpoint, both ways


def _head(model_type: str, **kwargs) -> VsslForVideoClassification:
    return AutoModelForVideoClassification.from_config(_config(model_type, **kwargs)).eval()


@pytest.mark.parametrize("model_type", BACKBONE_TYPES[:1])
def test_single_label_loss_is_cross_entropy(model_type):
    model = _head(model_type, num_labels=3)
    labels = torch.tensor([0, 2])
    with torch.no_grad():
        out = model(_clips(model.config), labels=labels)
    assert model.config.problem_type == "single_label_classification"  # inferred from the integer labels
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))


@pytest.mark.parametrize("model_type", BACKBONE_TYPES[:1])
@pytest.mark.parametrize("problem_type", [None, "multi_label_classification"])
def test_multi_label_loss_is_binary_cross_entropy(model_type, problem_type):
    """Float multi-hot labels: one sigmoid per class (transformers' rule), not a softmax over classes."""
    model = _head(model_type, num_labels=4, problem_type=problem_type)
    labels = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0]])
    with torch.no_grad():
        out = model(_clips(model.config), labels=labels)
    assert model.config.problem_type == "multi_label_classification"
    torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(out.logits, labels))
    assert not torch.allclose(out.loss, F.cross_entropy(out.logits, labels))


@pytest.mark.parametrize("model_type", BACKBONE_TYPES[:1])
def test_regression_loss_is_mean_squared_error(model_type):
    model = _head(model_type, num_labels=1)
    targets = torch.tensor([0.5, -1.5])
    with torch.no_grad():
        out = model(_clips(model.config), labels=targets)
    assert model.config.problem_type == "regression"  # num_labels == 1
    torch.testing.assert_close(out.loss, F.mse_loss(out.logits.squeeze(1), targets))
