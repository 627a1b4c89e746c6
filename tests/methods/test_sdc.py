"""SDC (Qian et al., ECCV 2022): concept heads, top-K matching, views, losses, schedule, ablations,
checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError
from torch.utils.data import DataLoader
from transformers import AutoConfig, AutoModel

import hf_vssl  # noqa: F401  (registers the backbones and methods)
from hf_vssl.data.augment import frame_difference
from hf_vssl.data.clip_dataset import VideoClipDataset
from hf_vssl.data.loaders import load_ucf101
from hf_vssl.methods.registry import get_method
from hf_vssl.methods.sdc import SDCConfig, SDCForPretraining
from hf_vssl.methods.sdc.concepts import code_decoder, negative_entropy, transform_head
from hf_vssl.methods.sdc.local_matching import ConceptAttention, local_matching_loss, top_k_intersection
from hf_vssl.optim.recipe import OptimizerRecipe, build_optimizer
from hf_vssl.typed_fields import FieldTypeError

# ---------------------------------------------------------------- pure pieces


def test_top_k_intersection_on_hand_made_codes():
    codes_a = torch.tensor(
        [
            [0.9, 0.8, 0.1, 0.7, 0.0, 0.2],  # top-3: {0, 1, 3}
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # top-3: {3, 4, 5}
        ]
    )
    codes_b = torch.tensor(
        [
            [0.9, 0.0, 0.8, 0.7, 0.1, 0.2],  # top-3: {0, 2, 3}
            [0.6, 0.5, 0.4, 0.3, 0.2, 0.1],  # top-3: {0, 1, 2}
        ]
    )
    valid = top_k_intersection(codes_a, codes_b, k=3)
    expected = torch.zeros(2, 6, dtype=torch.bool)
    expected[0, [0, 3]] = True  # video 1: concepts 0 and 3 in both; video 2: none
    assert torch.equal(valid, expected)
    assert torch.equal(top_k_intersection(codes_a, codes_a, k=2).sum(dim=1), torch.tensor([2, 2]))
    with pytest.raises(ValueError, match="1 <= k <= K"):
        top_k_intersection(codes_a, codes_b, k=7)


def test_local_matching_pulls_same_video_and_pushes_others():
    batch, concepts, dim = 3, 4, 8
    codes = torch.tensor([[4.0, 3.0, 2.0, 1.0]]).expand(batch, 2, concepts)  # top-2 valid: concepts 0, 1
    # every clip of every video has the same descriptors: positives are perfect, negatives too close
    shared = torch.nn.functional.normalize(torch.randn(1, 1, concepts, dim), dim=-1) + 0.01 * torch.randn(
        batch, 2, concepts, dim
    )
    collapsed = shared.clone().requires_grad_(True)
    loss, valid = local_matching_loss(collapsed, codes, top_k=2, margin=1.4)
    assert torch.equal(valid, torch.full((batch,), 2.0))
    loss.backward()
    assert loss > 0.5  # ~ margin^2 per valid negative pair
    assert collapsed.grad[:, :, :2].abs().sum() > 0 and collapsed.grad[:, :, 2:].abs().sum() == 0
    # orthogonal videos at distance sqrt(2) ~ 1.414 > 1.4, identical clips: nothing to do
    basis = torch.eye(dim)[:batch]  # video b -> e_b for every concept
    separated = basis[:, None, None, :].expand(batch, 2, concepts, dim)
    loss_separated, _ = local_matching_loss(separated, codes, top_k=2, margin=1.4)
    assert loss_separated < 1e-4


def test_concept_attention_gives_one_descriptor_per_template():
    attention = ConceptAttention(token_dim=6, dim=8, iterations=1)
    descriptors = attention(torch.randn(2, 6, 2, 3, 3), torch.randn(5, 8))
    assert descriptors.shape == (2, 5, 8)


def test_negative_entropy_is_minimal_for_uniform_codes():
    uniform = torch.zeros(4, 10)
    peaked = torch.tensor([[10.0] + [0.0] * 9]).expand(4, 10)
    assert math.isclose(negative_entropy(uniform, 0.1).item(), -math.log(10), rel_tol=1e-5)
    assert negative_entropy(peaked, 0.1) > negative_entropy(uniform, 0.1)


# SDC supp. Table 1: identity 512-512, linear 512-512, MLP 512-512-512
@pytest.mark.parametrize(("kind", "parameters"), [("identity", 0), ("linear", 1), ("mlp", 2)])
def test_transform_heads_of_table_1(kind, parameters):
    head = transform_head(kind, 16)
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == parameters
    assert head(torch.randn(3, 16)).shape == (3, 16)


# SDC supp. Table 2: linear 100-512, MLP 100-128-512, MLP 100-512-512
@pytest.mark.parametrize(
    ("hidden", "widths"),
    [([], [(100, 512)]), ([128], [(100, 128), (128, 512)]), ([512], [(100, 512), (512, 512)])],
)
def test_decoders_of_table_2(hidden, widths):
    decoder = code_decoder(100, hidden, 512)
    linears = [(m.in_features, m.out_features) for m in decoder.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == widths
    assert decoder(torch.randn(4, 100)).shape == (4, 512)


# ---------------------------------------------------------------- views


def _tiny_config(**overrides) -> SDCConfig:
    backbone = AutoConfig.for_model(
        "vssl-r2plus1d", variant="torchvision", layers=[1, 1, 1, 1], width_multiplier=0.125
    )
    fields = dict(
        backbone_config=backbone,
        num_static_concepts=6,
        num_dynamic_concepts=6,
        top_k=2,
        decoder_hidden_dims=[16],
        nce_dim=16,
        queue_size=16,
        queue_start_epoch=0,
        local_start_epoch=1,
        num_frames=8,
        frame_size=[40, 50],
        crop_size=16,
        batch_size=4,
    )
    return SDCConfig(**(fields | overrides))


def _first_batch(root, config: SDCConfig) -> dict:
    """One collated batch of 4 training videos through `config`'s sampler (real mp4 decoding)."""
    data = VideoClipDataset(
        load_ucf101(root, split=1)["train"],
        get_method("sdc").build_sampler(config),
        frame_size=(40, 50),
        seed=0,
    )
    return next(iter(DataLoader(data, batch_size=4)))


@pytest.fixture(scope="module")
def tiny_batch(tiny_ucf_root) -> dict:
    """One collated batch of 4 training videos through SDC's sampler."""
    return _first_batch(tiny_ucf_root, _tiny_config())


def _inputs(config: SDCConfig, batch: dict) -> dict[str, torch.Tensor]:
    return get_method("sdc").build_augment(config)(batch, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def tiny_batch_next_frame(tiny_ucf_root) -> dict:
    """tiny_batch's videos through the sampler of `difference_wrap=False` (one more frame per clip)."""
    return _first_batch(tiny_ucf_root, _tiny_config(difference_wrap=False))


def _check_views(inputs: dict[str, torch.Tensor]) -> None:
    assert {k: tuple(v.shape) for k, v in inputs.items()} == {
        name: (4, 2, 3, 8, 16, 16) for name in ("clips", "static_clips", "difference_clips")
    }
    clips, statics, differences = inputs["clips"], inputs["static_clips"], inputs["difference_clips"]
    # the static view has no motion: every frame equal, zero frame difference
    assert frame_difference(statics.flatten(0, 1)).abs().max() == 0
    assert differences.abs().amax() > 0 and not torch.equal(clips[:, 0], clips[:, 1])


def test_six_views_of_seed_002(tiny_batch):
    """The released dataloader.py: the difference view is rgb - torch.roll(rgb, 1, 2) of the augmented
    clip, T differences of T frames, the first one frame 0 minus frame T - 1."""
    assert "diff0" not in tiny_batch["views"]  # no extra frame decoded
    inputs = _inputs(_tiny_config(), tiny_batch)
    _check_views(inputs)
    clips = inputs["clips"]
    torch.testing.assert_close(inputs["difference_clips"], clips - torch.roll(clips, 1, dims=3))
    torch.testing.assert_close(inputs["difference_clips"][:, :, :, 0], clips[:, :, :, 0] - clips[:, :, :, -1])


def test_difference_view_of_the_next_frame(tiny_batch_next_frame):
    """difference_wrap=False: one more frame decoded, T differences of neighbouring frames."""
    views = tiny_batch_next_frame["views"]
    assert views["diff0"].shape == (4, 9, 40, 50, 3)  # the clip and one more frame: 8 differences
    assert torch.equal(views["diff0"][:, :8], views["clip0"])
    inputs = _inputs(_tiny_config(difference_wrap=False), tiny_batch_next_frame)
    _check_views(inputs)
    clips = inputs["clips"]
    # the difference view is the frame difference of the augmented clip (and its extra frame)
    torch.testing.assert_close(
        inputs["difference_clips"][:, :, :, :-1],
        frame_difference(clips.flatten(0, 1)).view(4, 2, 3, 7, 16, 16),
    )
    assert not torch.allclose(inputs["difference_clips"][:, :, :, 0], clips[:, :, :, 0] - clips[:, :, :, -1])


def test_difference_view_of_a_static_clip_is_zero(tiny_batch):
    frozen = {name: view[:, :1].expand_as(view).clone() for name, view in tiny_batch["views"].items()}
    # every colour op drawn per clip: a still clip has no frame differences
    inputs = _inputs(_tiny_config(grayscale_channel_per_frame=False), {"views": frozen})
    assert inputs["difference_clips"].abs().max() == 0
    assert inputs["clips"].abs().max() > 0
    # the released RandomGray draws the grey channel per frame: a grey still clip then has differences
    # (the static view keeps one channel: SDC supp. §1 gives it no temporal dynamics)
    released = _inputs(_tiny_config(grayscale_p=1.0), {"views": frozen})
    assert released["difference_clips"].abs().max() > 0
    assert frame_difference(released["static_clips"].flatten(0, 1)).abs().max() == 0


def test_sdc_data_switches_default_to_the_release():
    config = SDCConfig()
    # released train.py / augmentation.py RandomSizedCrop(consistent=True) and RandomGray.grayscale;
    # released dataloader.py sample_frame (continuous stride, one back_idx for both clips)
    assert config.crop_sampler == "ten_draws" and config.grayscale_channel_per_frame
    assert config.continuous_stride and config.shared_static_offset
    sampler = get_method("sdc").build_sampler(config)
    assert sampler.continuous_stride and sampler.shared_static_offset
    per_clip = get_method("sdc").build_sampler(SDCConfig(continuous_stride=False, shared_static_offset=False))
    assert not per_clip.continuous_stride and not per_clip.shared_static_offset


# ---------------------------------------------------------------- the model


def test_encoder_and_heads_at_16x112x112():
    config = SDCConfig()  # R(2+1)D-18, 50 + 50 concepts, identity sigma, MLP 100-512-512 decoders
    with torch.device("meta"):  # full width, shapes only
        model = SDCForPretraining(config).eval()
        out = model.backbone(torch.empty(1, 3, 16, 112, 112))
        assert out.last_hidden_state.shape == (1, 512, 2, 7, 7)  # SDC supp. §1: 512 x 2 x 7 x 7
        feature = model.transforms["clip"](out.pooler_output)
        assert feature.shape == (1, 512)
        assert all(model.concepts[v](feature).shape == (1, 100) for v in ("clip", "static", "difference"))
        assert model.decoders["clip"](torch.empty(2, 100)).shape == (2, 512)
        assert model.decoders["static"](torch.empty(2, 50)).shape == (2, 512)
        assert model.concept_attention(out.last_hidden_state, model.concepts["clip"].weight).shape == (
            1,
            100,
            512,
        )
        assert model.nce_heads["clip"](out.pooler_output).shape == (1, 128)
    assert model.queue.rows.shape == (1024, 6 * 100)


def test_every_term_is_finite_and_differentiable(tiny_batch):
    torch.manual_seed(0)
    config = _tiny_config(local_start_epoch=0, transform_head="linear")
    model = SDCForPretraining(config).train()
    model.set_epoch(1)
    out = model(**_inputs(config, tiny_batch))
    views = ("clip", "static", "difference")
    assert set(out.loss_terms) == (
        {"align_static", "align_dynamic", "entropy_static", "entropy_dynamic"}
        | {f"reconstruction_{v}" for v in views}
        | {f"local_{v}" for v in views}
        | {"nce_clip_clip", "nce_clip_static", "nce_clip_difference"}
    )
    assert all(torch.isfinite(v) for v in out.loss_terms.values())
    torch.testing.assert_close(out.loss.detach(), torch.stack(list(out.loss_terms.values())).sum())
    out.loss.backward()
    # heads reached only through their terms: decoders (reconstruction), InfoNCE heads, concept attention (L_loc)
    for prefix in (
        "decoders.clip",
        "decoders.static",
        "decoders.difference",
        "nce_heads",
        "concept_attention",
        "transforms.static",
        "concepts.difference",
    ):
        grads = [p.grad for name, p in model.named_parameters() if name.startswith(prefix)]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), prefix
        assert sum(g.abs().sum() for g in grads) > 0, prefix
    valid = out.metrics["valid_concepts"]
    assert 0 <= valid <= config.top_k  # SDC supp. Table 3 "Avg": at most K after the intersection
    assert out.logits.shape == (4, 2, 12)


def _released_contrast(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Transcribed from the release's train.py `contrast(q, k, celoss)`: the key is detached."""
    q, k = torch.nn.functional.normalize(q), torch.nn.functional.normalize(k)
    matrix = torch.einsum("nc,mc->nm", q, k.detach())
    return torch.nn.functional.cross_entropy(matrix / 0.07, torch.arange(matrix.shape[0]))


@pytest.mark.parametrize("detach_keys", [True, False])
def test_cross_view_nce_equals_the_released_contrast_with_detached_keys(detach_keys):
    """Released train.py: I_vv = (c(v1, v2) + c(v2, v1)) / 2, I_vs and I_vd summed over both clip
    orders of (c(x, y) + c(y, x)) / 2, each `contrast` detaching its key. The default (SDCConfig
    nce_detach_keys=True) has the release's gradient; False keeps the keys' gradient (same value)."""
    torch.manual_seed(0)
    config = _tiny_config(nce_detach_keys=detach_keys)
    assert SDCConfig().nce_detach_keys is True  # the released default
    model = SDCForPretraining(config)
    batch, dim = 3, config.backbone_config.hidden_size
    pooled = {
        view: torch.randn(2 * batch, dim, requires_grad=True) for view in ("clip", "static", "difference")
    }
    ours = sum(model._cross_view_nce(pooled, batch).values())

    def embed(head: str, view: str) -> tuple[torch.Tensor, torch.Tensor]:
        z = model.nce_heads[head](pooled[view])
        return z[:batch], z[batch:]

    v1, v2 = embed("clip", "clip")
    released = (_released_contrast(v1, v2) + _released_contrast(v2, v1)) / 2
    for other in ("static", "difference"):
        c1, c2 = embed(f"clip_to_{other}", "clip")
        o1, o2 = embed(other, other)
        pairs = ((c1, o2), (o2, c1), (c2, o1), (o1, c2))
        released = released + sum(_released_contrast(q, k) for q, k in pairs) / 2
    torch.testing.assert_close(ours, released)
    ours_grad = torch.autograd.grad(ours, list(pooled.values()))
    released_grad = torch.autograd.grad(released, list(pooled.values()))
    same = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(ours_grad, released_grad))
    assert same == detach_keys


def test_local_matching_starts_at_its_epoch_and_reports_valid_concepts(tiny_batch):
    config = _tiny_config(local_start_epoch=5)
    model = SDCForPretraining(config).train()
    inputs = _inputs(config, tiny_batch)
    with torch.no_grad():
        model.set_epoch(4)
        before = model(**inputs)
        model.set_epoch(5)
        after = model(**inputs)
    assert not any(name.startswith("local_") for name in before.loss_terms)
    assert {"local_clip", "local_static", "local_difference"} <= set(after.loss_terms)
    for out in (before, after):
        assert {"valid_concepts", "valid_concepts_clip", "valid_concepts_static"} <= set(out.metrics)


def test_a_few_steps_lower_the_loss(tiny_batch):
    torch.manual_seed(0)
    config = _tiny_config(local_start_epoch=0)
    model = SDCForPretraining(config).train()
    model.set_epoch(1)
    inputs = _inputs(config, tiny_batch)
    recipe = OptimizerRecipe.from_config(config)
    assert (recipe.optimizer, recipe.learning_rate, recipe.lr_milestones) == ("adam", 1e-3, (120, 160))
    optimizer = build_optimizer(model.parameters(), recipe)
    losses = []
    for _ in range(3):
        out = model(**inputs)
        out.loss.backward()
        model.before_optimizer_step()
        optimizer.step()
        model.after_optimizer_step()
        optimizer.zero_grad()
        losses.append(out.loss.item())
    assert losses[-1] < losses[0], losses
    assert len(model.queue) == 12  # 3 batches of 4


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        # SDC supp. Table 5: three encoders instead of one
        ({"separate_encoders": True}, lambda m: m.static_backbone is not m.backbone),
        # SDC supp. Table 1: sigma
        ({"transform_head": "mlp"}, lambda m: len(m.transforms["static"]) == 4),
        # SDC supp. Table 2: the linear decoder
        ({"decoder_hidden_dims": []}, lambda m: len(m.decoders["clip"]) == 1),
    ],
)
def test_ablations_build_their_variant(tiny_batch, overrides, check):
    config = _tiny_config(**overrides)
    model = SDCForPretraining(config).train()
    assert check(model)
    with torch.no_grad():
        out = model(**_inputs(config, tiny_batch))
    assert torch.isfinite(out.loss)


def test_top_k_sets_the_number_of_valid_concepts(tiny_batch):
    """SDC supp. Table 3: valid concepts are the intersection of both clips' top-K, so at most K; with K
    equal to all static (dynamic) concepts every one of them is valid."""
    config = _tiny_config(top_k=6)
    with torch.no_grad():
        metrics = SDCForPretraining(config).train()(**_inputs(config, tiny_batch)).metrics
    assert metrics["valid_concepts_static"] == metrics["valid_concepts_difference"] == 6
    assert metrics["valid_concepts_clip"] <= 6  # top-6 of the clip view's 6 + 6 concepts


def test_checkpoint_is_a_backbone_and_restores_every_head(tmp_path):
    config = _tiny_config(separate_encoders=True, top_k=3)
    model = SDCForPretraining(config)
    model.queue.enqueue(torch.randn(3, 6 * 12))
    model.save_pretrained(tmp_path)
    backbone = AutoModel.from_pretrained(tmp_path)  # the clip encoder
    for name, value in model.backbone.state_dict().items():
        torch.testing.assert_close(backbone.state_dict()[name], value)
    restored = SDCForPretraining.from_pretrained(tmp_path)
    assert restored.config.separate_encoders and restored.config.top_k == 3
    expected = model.state_dict()
    assert set(restored.state_dict()) == set(expected)
    for name, value in restored.state_dict().items():
        torch.testing.assert_close(value, expected[name], msg=name)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("transform_head", "deep"),
        ("top_k", 7),
        ("num_static_concepts", 0),
        ("decoder_hidden_dims", [0]),
        ("entropy_weight", -0.1),
        ("blur_p", 2.0),
    ],
)
def test_config_rejects_impossible_values(field, value):
    # a choice outside the field's Literal (transform_head) fails when values are brought to their types
    with pytest.raises((StrictDataclassError, FieldTypeError), match=field):
        _tiny_config(**{field: value})


def test_registered_with_the_seed_defaults():
    spec = get_method("sdc")
    assert spec.config_class is SDCConfig and spec.model_class is SDCForPretraining
    config = SDCConfig()
    assert (
        config.backbone_config.model_type == "vssl-r2plus1d"
        and config.backbone_config.variant == "torchvision"
    )
    assert (config.num_static_concepts, config.num_dynamic_concepts, config.top_k) == (50, 50, 5)
    assert (config.transform_head, config.decoder_hidden_dims, config.local_start_epoch) == (
        "identity",
        [512],
        5,
    )
    assert (config.crop_size, config.batch_size, config.epochs) == (112, 96, 200)


@pytest.mark.parametrize("local_start_epoch", [0, 1])
def test_idle_parameters_are_announced_for_ddp(tiny_batch, local_start_epoch):
    """Before L_loc starts the concept attention gets no gradient: the model must say so, so that
    the training loop turns on DDP's `find_unused_parameters`."""
    config = _tiny_config(local_start_epoch=local_start_epoch)
    model = SDCForPretraining(config).train()
    model.set_epoch(0)
    model(**_inputs(config, tiny_batch)).loss.backward()
    idle = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert model.has_idle_parameters() == bool(idle) == (local_start_epoch > 0), idle
