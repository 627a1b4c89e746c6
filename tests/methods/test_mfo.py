"""MFO (Qian et al., ICCV 2021): graph, timestamp retrieval, temporal negatives, heads, losses, schedule,
checkpoints."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from huggingface_hub.errors import StrictDataclassError
from torch.utils.data import DataLoader
from transformers import AutoConfig, AutoModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

import hf_vssl  # noqa: F401  (registers the backbones and methods)
from hf_vssl.data.clip_dataset import VideoClipDataset
from hf_vssl.data.loaders import load_ucf101
from hf_vssl.methods.mfo import MFOConfig, MFOForPretraining
from hf_vssl.methods.mfo.graph import graph_contrast_loss, instance_graph
from hf_vssl.methods.mfo.temporal import MotionExcitation, temporal_transform
from hf_vssl.methods.mfo.timestamp import timestamp_retrieval_logits, timestamp_retrieval_loss
from hf_vssl.methods.registry import get_method
from hf_vssl.optim.recipe import OptimizerRecipe, build_optimizer

# ---------------------------------------------------------------- graph G_ins


def test_instance_graph_thresholds_keeps_diagonal_masks_and_normalises():
    # E of 4 videos (rows sum to 1); eta = 0.05
    similarity = torch.tensor(
        [
            [0.60, 0.30, 0.04, 0.06],
            [0.20, 0.01, 0.70, 0.09],  # diagonal below eta: kept anyway
            [0.05, 0.15, 0.50, 0.30],  # 0.05 == eta: kept (only entries below eta are dropped)
            [0.25, 0.25, 0.25, 0.25],
        ]
    )
    assignments = torch.tensor([3, 3, 7, 3])  # video 2 is alone on its prototype
    graph = instance_graph(similarity, assignments, threshold=0.05)
    expected = torch.tensor(
        [
            [0.60, 0.30, 0.00, 0.06],  # 0.04 < eta dropped; column 2 masked (other prototype)
            [0.20, 0.01, 0.00, 0.09],
            [0.00, 0.00, 0.50, 0.00],  # only itself shares prototype 7
            [0.25, 0.25, 0.00, 0.25],
        ]
    )
    expected = expected / expected.sum(dim=1, keepdim=True)
    torch.testing.assert_close(graph, expected)
    torch.testing.assert_close(graph.sum(dim=1), torch.ones(4))
    assert (graph.diagonal() > 0).all()


def test_instance_graph_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="assignments"):
        instance_graph(torch.rand(3, 3), torch.zeros(4, dtype=torch.long), 0.05)


def test_graph_contrast_loss_is_mean_of_weighted_log_softmax():
    anchors, candidates = torch.randn(2, 5, requires_grad=True), torch.randn(3, 5)
    graph = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    loss = graph_contrast_loss(anchors, candidates, graph, temperature=0.5)
    logits = F.normalize(anchors, dim=1) @ F.normalize(candidates, dim=1).T / 0.5
    expected = -(graph * logits.log_softmax(dim=1)).sum() / 6  # mean over the 2 x 3 entries
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert anchors.grad is not None and anchors.grad.abs().sum() > 0


# ---------------------------------------------------------------- timestamp retrieval L_ret


def _aligned_views(batch: int, dim: int, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of 2t moments; clip 0 / clip 1 = first / last t of them, overview = pairs averaged."""
    moments = F.normalize(torch.randn(batch, dim, 2 * steps), dim=1) * 4
    short = torch.stack([moments[..., :steps], moments[..., steps:]], dim=1)  # (B, 2, D, t)
    overview = F.avg_pool1d(moments, 2)  # (B, D, t): step k covers moments 2k, 2k+1
    return short, overview


@pytest.mark.parametrize("steps", [2, 4, 8])  # high, mid, low at 16 frames
def test_timestamp_retrieval_targets_are_the_diagonal(steps):
    short, overview = _aligned_views(batch=3, dim=64, steps=steps)
    to_overview, to_short = timestamp_retrieval_logits(short, overview, temperature=0.07)
    assert to_overview.shape == to_short.shape == (3, steps, steps)
    target = torch.arange(steps).expand(3, steps)
    assert torch.equal(
        to_overview.argmax(dim=-1), target
    )  # pooled step k of the short clips = overview step k
    assert torch.equal(to_short.argmax(dim=-1), target)
    loss, accuracy = timestamp_retrieval_loss(short, overview, temperature=0.07)
    assert accuracy == 1.0 and loss < 0.1
    # a shuffled overview breaks the correspondence
    _, shuffled_accuracy = timestamp_retrieval_loss(short, overview.flip(-1), temperature=0.07)
    assert shuffled_accuracy == 0.0


def test_too_short_clips_for_timestamp_retrieval_fail_at_the_first_step():
    """4-frame clips leave R3D's mid level one time step: the first step of stage one says so (it used to
    surface only when the graph stage switched L_ret on, epochs into the run)."""
    torch.manual_seed(0)
    clips = torch.randn(2, 2, 3, 4, 16, 16)
    model = MFOForPretraining(_tiny_config(num_frames=4))
    assert not model.graph_active
    with pytest.raises(ValueError, match="even number >= 2 of time steps"):
        model(clips)
    MFOForPretraining(_tiny_config(num_frames=4, use_ret_loss=False))(clips).loss.backward()


def test_timestamp_retrieval_needs_even_steps():
    with pytest.raises(ValueError, match="even number"):
        timestamp_retrieval_loss(torch.randn(2, 2, 4, 1), torch.randn(2, 4, 1), 0.07)


# ---------------------------------------------------------------- temporal negatives (L_aug)


def test_temporal_transforms_permute_time_only():
    features = torch.randn(3, 2, 8, 2, 2)
    reversed_ = temporal_transform(features, "reverse")
    assert torch.equal(reversed_[:, :, 0], features[:, :, -1])
    shuffled = temporal_transform(features, "shuffle")
    for sample in range(3):
        # each output step is one input step, all used once, and not in the original order
        order = [
            next(t for t in range(8) if torch.equal(shuffled[sample, :, s], features[sample, :, t]))
            for s in range(8)
        ]
        assert sorted(order) == list(range(8)) and order != list(range(8))
    with pytest.raises(ValueError, match="unknown temporal transform"):
        temporal_transform(features, "rotate")


def test_motion_excitation_makes_reversed_features_differ_after_pooling():
    torch.manual_seed(0)
    module = MotionExcitation(channels=16, reduction=4).eval()
    features = torch.randn(2, 16, 8, 3, 3)
    pooled = module(features).mean(dim=(2, 3, 4))
    pooled_reversed = module(temporal_transform(features, "reverse")).mean(dim=(2, 3, 4))
    assert module(features).shape == features.shape
    assert torch.allclose(
        features.mean(dim=(2, 3, 4)), features.flip(2).mean(dim=(2, 3, 4))
    )  # plain pooling can't
    assert not torch.allclose(pooled, pooled_reversed, atol=1e-4)


# ---------------------------------------------------------------- the model


def _tiny_config(**overrides) -> MFOConfig:
    backbone = AutoConfig.for_model("vssl-r3d", depth=10, stem="hara", width_multiplier=0.125)
    fields = dict(
        backbone_config=backbone,
        projection_dim=16,
        motion_reduction=4,
        num_prototypes=8,
        queue_size=16,
        queue_start_epoch=0,
        graph_start_epoch=1,
        frame_size=[40, 50],
        crop_size=16,
        batch_size=4,
    )
    return MFOConfig(**(fields | overrides))


@pytest.fixture(scope="module")
def tiny_batch(tiny_ucf_root) -> dict:
    """One collated batch of 4 training videos through MFO's sampler (real mp4 decoding)."""
    spec = get_method("mfo")
    config = _tiny_config()
    data = VideoClipDataset(
        load_ucf101(tiny_ucf_root, split=1)["train"], spec.build_sampler(config), frame_size=(40, 50), seed=0
    )
    return next(iter(DataLoader(data, batch_size=4)))


def _inputs(config: MFOConfig, batch: dict) -> dict[str, torch.Tensor]:
    return get_method("mfo").build_augment(config)(batch, generator=torch.Generator().manual_seed(0))


def test_sampler_and_views_follow_seed_001(tiny_batch):
    views = tiny_batch["views"]
    assert {"clip0", "clip1", "overview"} <= set(views)
    assert views["clip0"].shape == (4, 16, 40, 50, 3) and views["overview"].shape == (4, 16, 40, 50, 3)
    inputs = _inputs(_tiny_config(), tiny_batch)
    assert inputs["clips"].shape == (4, 2, 3, 16, 16, 16)
    assert inputs["overview"].shape == (4, 3, 16, 16, 16)
    assert not torch.equal(inputs["clips"][:, 0], inputs["clips"][:, 1])
    assert "overview" not in _inputs(_tiny_config(use_ret_loss=False), tiny_batch)


@pytest.mark.parametrize(
    ("backbone", "expected"),
    [
        # MFO supp. Table 1: R3D-18 (Hara stem) stages 2 / 3 / 4
        (
            dict(model_type="vssl-r3d", depth=18, stem="hara"),
            [(128, 8, 14, 14), (256, 4, 7, 7), (512, 2, 4, 4)],
        ),
        # MFO supp. Table 2: S3D Mixed-3c / 4f / 5c
        pytest.param(
            dict(model_type="vssl-s3d"),
            [(480, 8, 14, 14), (832, 4, 7, 7), (1024, 2, 4, 4)],
            marks=pytest.mark.skipif(
                "vssl-s3d" not in CONFIG_MAPPING, reason="the S3D backbone (issue 2) has not landed yet"
            ),
        ),
    ],
)
def test_levels_and_heads_at_16x112x112(backbone, expected):
    config = MFOConfig(backbone_config=AutoConfig.for_model(**backbone))
    with torch.device("meta"):  # full width, shapes only
        model = MFOForPretraining(config).eval()
        features = model.backbone(torch.empty(1, 3, 16, 112, 112), output_multilevel_features=True)
        assert [tuple(f.shape[1:]) for f in features.multilevel_features] == expected
        for name, level, (channels, steps, _, _) in zip(
            ("low", "mid", "high"), features.multilevel_features, expected
        ):
            head = model.levels[name]
            per_step = head.steps(level)
            assert per_step.shape == (1, steps, channels)
            assert head.contrast(per_step).shape == head.graph(per_step).shape == (1, steps, 128)
            assert head.retrieval(per_step).shape == (1, steps, 128)
            assert (head.motion is not None) == (name != "high")  # motion excitation on low / mid
        pooled = features.multilevel_features[2].mean(dim=(2, 3, 4))
        embedding = model.global_projection(pooled)
        assert embedding.shape == (1, 128)
        assert model.prototypes(embedding).shape == (1, 1000)  # MFO supp. §2: 1000 prototypes
    assert model.queue.rows.shape == (
        1024,
        2 * 1000,
    )  # MFO supp. §2: queue of 1024 (past scores of both clips)


def test_high_level_contrast_is_infonce_between_the_two_clips():
    """L_high for 2 videos: the positive of a clip is the other clip of its video, the negatives the
    other video's clips, the clip itself is left out (released train.py `feat_contrast`)."""
    model = MFOForPretraining(_tiny_config())
    z = F.normalize(torch.randn(4, 16), dim=1)  # rows: clip 0 of videos 0, 1; clip 1 of videos 0, 1
    loss = model._clip_contrast(z, batch=2)
    logits = z @ z.T / 0.07
    expected = []
    for row, positive in enumerate((2, 3, 0, 1)):
        others = [c for c in range(4) if c != row]
        expected.append(-(logits[row, positive] - logits[row, others].logsumexp(dim=0)))
    torch.testing.assert_close(loss, torch.stack(expected).mean())


def test_every_term_is_finite_and_trains_its_heads(tiny_batch):
    torch.manual_seed(0)
    config = _tiny_config(graph_start_epoch=0)
    model = MFOForPretraining(config).train()
    model.set_epoch(0)
    out = model(**_inputs(config, tiny_batch))
    expected = {"high_nce", "proto"} | {f"{n}_{t}" for n in ("low", "mid", "high") for t in ("ret", "graph")}
    assert set(out.loss_terms) == expected | {"low_aug", "mid_aug"}
    assert all(torch.isfinite(v) for v in out.loss_terms.values())
    torch.testing.assert_close(out.loss.detach(), torch.stack(list(out.loss_terms.values())).sum())
    out.loss.backward()
    # each head is reached only through its term(s): a finite, non-zero gradient proves the term is differentiable
    owners = {
        "levels.high.contrast": "high_nce",
        "levels.low.contrast": "low_aug",
        "levels.mid.contrast": "mid_aug",
        "global_projection": "proto",
        "prototypes": "proto",
        **{f"levels.{n}.retrieval": f"{n}_ret" for n in ("low", "mid", "high")},
        **{f"levels.{n}.graph": f"{n}_graph" for n in ("low", "mid", "high")},
    }
    for prefix, term in owners.items():
        grads = [p.grad for name, p in model.named_parameters() if name.startswith(prefix)]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), (prefix, term)
        assert sum(g.abs().sum() for g in grads) > 0, (prefix, term)
    assert out.logits.shape == (4, 2, 8) and out.embeddings.shape == (4, 2, 16)
    assert 0 <= out.metrics["high_ret_acc"] <= 1 and out.metrics["graph_edges"] >= 1


@torch.no_grad()
def _terms(config: MFOConfig, batch: dict, epoch: int) -> set[str]:
    model = MFOForPretraining(config).train()
    model.set_epoch(epoch)
    return set(model(**_inputs(config, batch)).loss_terms)


def test_switches_change_the_computed_terms(tiny_batch):
    full = {"high_nce", "proto", "low_aug", "mid_aug", "low_ret", "mid_ret", "high_ret"}
    graph = {"low_graph", "mid_graph", "high_graph"}
    # MFO supp. §2 two-stage schedule: L_high alone, then everything with L_mul
    assert _terms(_tiny_config(), tiny_batch, epoch=0) == {"high_nce", "proto"}
    assert _terms(_tiny_config(), tiny_batch, epoch=1) == full | graph
    # the released schedule: every term but L_mul in the first stage
    assert _terms(_tiny_config(stage_one_high_only=False), tiny_batch, epoch=0) == full
    # MFO supp. Table 3: L_aug and L_ret switched off
    no_aug = _tiny_config(use_aug_loss=False, stage_one_high_only=False)
    assert _terms(no_aug, tiny_batch, epoch=0) == full - {"low_aug", "mid_aug"}
    no_ret = _tiny_config(use_ret_loss=False, stage_one_high_only=False)
    assert _terms(no_ret, tiny_batch, epoch=0) == full - {"low_ret", "mid_ret", "high_ret"}
    assert not any(head.retrieval for head in MFOForPretraining(no_ret).levels.values())


def _motion_inputs(config: MFOConfig, clips: torch.Tensor) -> list[torch.Tensor]:
    """The feature maps the low level's motion excitation receives in one training forward: the clips'
    first, then each temporal negative's."""
    model = MFOForPretraining(config).train()
    seen: list[torch.Tensor] = []
    hook = model.levels["low"].motion.register_forward_hook(lambda _m, args, _out: seen.append(args[0]))
    model(clips)
    hook.remove()
    return seen


@pytest.mark.parametrize("source", ["features", "clips"])
def test_reversal_of_a_still_clip_shows_order_only_on_flipped_features(source):
    """Zero padding in time makes the first and last steps of a still clip's map differ, so a flipped map
    is a negative told apart by its edges alone (the released r3d.py `temporal_shuffle`); a reversed still
    clip is the same clip, its maps the same (temporal_negatives_from="clips")."""
    torch.manual_seed(0)
    config = _tiny_config(
        stage_one_high_only=False,
        use_ret_loss=False,
        temporal_negatives=["reverse"],
        temporal_negatives_from=source,
        crop_size=32,
    )
    assert MFOConfig().temporal_negatives_from == "features"  # the released default
    still = torch.randn(4, 2, 3, 1, 32, 32).expand(-1, -1, -1, 16, -1, -1)
    original, reversed_ = _motion_inputs(config, still)
    assert original.shape[2] >= 2  # the low level keeps time steps
    if source == "clips":
        torch.testing.assert_close(reversed_, original)
    else:
        assert (reversed_ - original).abs().mean() > 0.1 * original.abs().mean()
    moving = torch.randn(4, 2, 3, 16, 32, 32)  # a clip with motion: its reversal differs either way
    original, reversed_ = _motion_inputs(config, moving)
    assert not torch.allclose(reversed_, original, atol=1e-3)


def test_reversing_a_one_step_map_is_announced(caplog):
    """A level with one time step (8-frame clips on C3D's mid level, a 4-frame clip here): its flipped map is
    the map itself, the L_aug negatives copies of the anchor; reversing the clips instead is not."""
    clips = torch.randn(2, 2, 3, 4, 32, 32)
    for source, announced in (("features", True), ("clips", False)):
        config = _tiny_config(
            stage_one_high_only=False, use_ret_loss=False, crop_size=32, temporal_negatives_from=source
        )
        caplog.clear()
        with caplog.at_level("WARNING", logger="hf_vssl.methods.mfo.modeling_mfo"):
            MFOForPretraining(config)(clips)
        assert ("keeps one time step" in caplog.text) == announced, source


def test_a_few_steps_lower_the_loss(tiny_batch):
    torch.manual_seed(0)
    config = _tiny_config(graph_start_epoch=0, temporal_negatives=["reverse"])
    model = MFOForPretraining(config).train()
    model.set_epoch(1)  # prototypes trainable
    inputs = _inputs(config, tiny_batch)
    recipe = OptimizerRecipe.from_config(config)
    assert (recipe.optimizer, recipe.learning_rate, recipe.weight_decay) == ("adam", 1e-3, 1e-5)
    optimizer = build_optimizer(model.parameters(), recipe)
    losses = []
    for _ in range(4):
        out = model(**inputs)
        out.loss.backward()
        model.before_optimizer_step()
        optimizer.step()
        model.after_optimizer_step()
        optimizer.zero_grad()
        losses.append(out.loss.item())
    assert losses[-1] < losses[0], losses
    torch.testing.assert_close(model.prototypes.weight.norm(dim=1), torch.ones(8))  # renormalised after steps


def test_prototypes_are_frozen_in_the_first_epoch():
    model = MFOForPretraining(_tiny_config())
    model.set_epoch(0)
    model.prototypes.weight.grad = torch.ones_like(model.prototypes.weight)
    model.before_optimizer_step()
    assert model.prototypes.weight.grad is None  # released train.py: no prototype gradient in epoch 0
    model.set_epoch(1)
    model.prototypes.weight.grad = torch.ones_like(model.prototypes.weight)
    model.before_optimizer_step()
    assert model.prototypes.weight.grad is not None


def test_checkpoint_is_a_backbone_and_restores_every_head(tmp_path):
    config = _tiny_config(num_prototypes=6, use_aug_loss=False)
    model = MFOForPretraining(config)
    model.queue.enqueue(torch.randn(5, 12))
    model.save_pretrained(tmp_path)
    backbone = AutoModel.from_pretrained(tmp_path)
    assert type(backbone) is type(model.backbone)
    for name, value in model.backbone.state_dict().items():
        torch.testing.assert_close(backbone.state_dict()[name], value)
    restored = MFOForPretraining.from_pretrained(tmp_path)
    assert restored.config.num_prototypes == 6 and restored.config.use_aug_loss is False
    assert restored.config.backbone_config.stem == "hara"
    expected = model.state_dict()
    assert set(restored.state_dict()) == set(expected)
    for name, value in restored.state_dict().items():
        torch.testing.assert_close(value, expected[name], msg=name)
    assert len(restored.queue) == 5


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("level_weights", [1.0, 0.5], "level_weights"),
        ("temporal_negatives", ["rotate"], "temporal_negatives"),
        ("graph_threshold", 1.5, "graph_threshold"),
        ("temperature", 0.0, "temperature"),
        ("num_prototypes", 1, "num_prototypes"),
        ("blur_p", 2.0, "blur_p"),
    ],
)
def test_config_rejects_impossible_values(field, value, message):
    with pytest.raises(StrictDataclassError, match=message):
        _tiny_config(**{field: value})


def test_registered_with_the_seed_recipe():
    spec = get_method("mfo")
    assert spec.config_class is MFOConfig and spec.model_class is MFOForPretraining
    config = MFOConfig()
    assert config.backbone_config.model_type == "vssl-r3d" and config.backbone_config.stem == "hara"
    recipe = OptimizerRecipe.from_config(config)
    assert recipe.lr_milestones == (70,) and recipe.lr_decay_factor == 0.1 and recipe.epochs == 100
    assert recipe.batch_size == 256


@pytest.mark.parametrize("graph_start_epoch", [0, 1])
def test_idle_parameters_are_announced_for_ddp(tiny_batch, graph_start_epoch):
    """Stage 1 trains only the high level: the model must say so, so that the training loop turns on
    DDP's `find_unused_parameters` (tests/training/test_distributed.py runs it on two processes)."""
    config = _tiny_config(graph_start_epoch=graph_start_epoch)
    model = MFOForPretraining(config).train()
    model.set_epoch(0)
    model(**_inputs(config, tiny_batch)).loss.backward()
    idle = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert model.has_idle_parameters() == bool(idle) == (graph_start_epoch > 0), idle
