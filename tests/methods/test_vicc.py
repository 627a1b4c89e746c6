"""ViCC on the tiny synthetic dataset (real mp4 files, with flow videos written next to them)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub.errors import StrictDataclassError
from torch.utils.data import DataLoader
from transformers import AutoModel

from hf_vssl.data.clip_dataset import VideoClipDataset
from hf_vssl.data.decoding import decode_frames, probe_video, video_path
from hf_vssl.data.encoding import RGB_CODEC, write_video
from hf_vssl.data.loaders import load_ucf101
from hf_vssl.evaluation.clustering import cluster_metrics
from hf_vssl.methods.registry import get_method
from hf_vssl.methods.vicc import ViCCConfig, ViCCForPretraining, cross_stream_schedule
from hf_vssl.nn import sinkhorn_knopp, swapped_prediction_loss

BACKBONE = {"model_type": "vssl-r3d", "depth": 18, "width_multiplier": 0.125}
TINY = {
    "num_prototypes": 12,
    "projection_dim": 16,
    "queue_size": 12,
    "num_frames": 4,
    "crop_size": 16,
    "frame_size": [16, 20],
    "batch_size": 4,
}


def tiny_config(**overrides) -> ViCCConfig:
    return ViCCConfig(**{"backbone_config": dict(BACKBONE), **TINY, **overrides})


def _write_flow(video: str, target: Path) -> None:
    """A real flow video of `video`: normal flow from brightness constancy, encoded as the original
    (clipped to +-20, (f + 20) * 255 / 40, channels (128, v, u))."""
    frames = decode_frames(video, range(probe_video(video).video_frames)).astype(np.float32).mean(axis=-1)
    gy, gx = np.gradient(frames, axis=(1, 2))
    dt = np.diff(frames, axis=0, append=frames[-1:])
    norm = gx**2 + gy**2 + 1.0
    u, v = (np.clip(-dt * g / norm * 20, -20, 20) for g in (gx, gy))
    encoded = np.stack([np.full_like(u, 20.0), v, u], axis=-1)
    write_video(target, ((encoded + 20) * 255 / 40).round().astype(np.uint8), codec=RGB_CODEC)


@pytest.fixture(scope="module")
def tiny_ucf_flow(tiny_ucf_root, tmp_path_factory):
    """The tiny training split (split 1) with a `flow` column of real flow videos."""
    train = load_ucf101(tiny_ucf_root, split=1)["train"]
    folder = tmp_path_factory.mktemp("flow")
    paths = [str(folder / f"{index}.mp4") for index in range(len(train))]
    for video, path in zip(train["video"], paths):
        _write_flow(video_path(video), Path(path))
    return train.add_column("flow", paths)


def _batch(config: ViCCConfig, split, batch_size: int = 4, seed: int = 0) -> dict:
    spec = get_method("vicc")
    data = VideoClipDataset(split, spec.build_sampler(config), frame_size=tuple(config.frame_size), seed=seed)
    batch = next(iter(DataLoader(data, batch_size=batch_size, shuffle=False)))
    torch.manual_seed(seed)
    return spec.build_augment(config)(batch)


def _train(model: ViCCForPretraining, inputs: dict, steps: int, lr: float = 0.05) -> list[float]:
    """`steps` optimizer steps on one fixed batch through the training-loop hooks; the losses."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9)
    model.train()
    losses = []
    for _ in range(steps):
        out = model(**inputs)
        out.loss.backward()
        model.before_optimizer_step()
        optimizer.step()
        model.after_optimizer_step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(out.loss.item())
    return losses


def test_stage_defaults_follow_seed_004():
    rgb1, flow1 = tiny_config(), tiny_config(stream="flow")
    cross = tiny_config(cross_stream=True)
    assert (rgb1.freeze_prototypes_epochs, rgb1.queue_start_epoch, rgb1.epochs) == (100, 150, 300)
    assert flow1.queue_start_epoch == 200
    assert (cross.freeze_prototypes_epochs, cross.queue_start_epoch, cross.epochs) == (0, 25, 100)
    assert (rgb1.num_prototypes, rgb1.temperature, rgb1.sinkhorn_epsilon) == (12, 0.1, 0.05)
    assert ViCCConfig.__dataclass_fields__["num_prototypes"].default == 300
    assert (rgb1.optimizer, rgb1.learning_rate, rgb1.final_lr, rgb1.weight_decay) == (
        "lars",
        0.6,
        0.0006,
        1e-6,
    )
    assert cross.streams == ("rgb", "flow") and cross.num_views == 4 and flow1.streams == ("flow",)
    two = tiny_config(stream="flow", flow_channels=2, cross_stream=True)
    assert two.backbone_config.in_channels == 2 and two.frozen_backbone_config().in_channels == 3


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"stream": "depth"}, "stream"),
        ({"batch_shuffle": True}, "second_clip_no_grad"),
        ({"backbone_config": {**BACKBONE, "in_channels": 2}}, "in_channels"),
        ({"crop_size": 64}, "crop_size"),
    ],
)
def test_config_errors_name_the_field(overrides, field):
    with pytest.raises((ValueError, StrictDataclassError), match=field):
        tiny_config(**overrides)


def test_views_same_frames_and_crop_for_rgb_and_flow(tiny_ucf_flow):
    config = tiny_config(cross_stream=True, flow_channels=2, one_clip_p=0.0, strong_p=1.0)
    sample = get_method("vicc").build_sampler(config)(45, np.random.default_rng(0))
    assert set(sample.views) == {"clip0", "clip1", "flow0", "flow1"}
    assert np.array_equal(sample.views["clip0"], sample.views["flow0"]) and len(sample.views["clip0"]) == 4
    assert get_method("vicc").uses_flow(config) and not get_method("vicc").uses_flow(tiny_config())
    inputs = _batch(config, tiny_ucf_flow)
    assert inputs["rgb"].shape == (4, 2, 3, 4, 16, 16) and inputs["flow"].shape == (4, 2, 2, 4, 16, 16)
    assert set(_batch(tiny_config(stream="flow"), tiny_ucf_flow)) == {"flow"}


def test_single_stream_training_lowers_the_loss(tiny_ucf_root):
    config = tiny_config(freeze_prototypes_epochs=0, queue_size=0)
    inputs = _batch(config, load_ucf101(tiny_ucf_root, split=1)["train"])
    torch.manual_seed(0)
    model = ViCCForPretraining(config)
    model.set_epoch(0)
    losses = _train(model, inputs, steps=4)
    assert losses[-1] < losses[0] - 0.05, losses
    out = model(**inputs)
    assert (
        set(out.loss_terms) == {"swapped"} and out.logits.shape == (4, 12) and out.embeddings.shape == (4, 16)
    )
    torch.testing.assert_close(
        model.prototypes.weight.norm(dim=1), torch.ones(12)
    )  # renormalised after steps


def test_prototypes_frozen_for_the_first_epochs_then_trained():
    config = tiny_config(freeze_prototypes_epochs=1, queue_size=0)
    model = ViCCForPretraining(config)
    inputs = {"rgb": torch.randn(4, 2, 3, 4, 16, 16)}
    model.set_epoch(0)
    before = model.prototypes.weight.detach().clone()
    backbone_before = next(model.backbone.parameters()).detach().clone()
    _train(model, inputs, steps=1)
    torch.testing.assert_close(model.prototypes.weight.detach(), before)  # only re-normalised (rounding)
    assert not torch.equal(next(model.backbone.parameters()), backbone_before)  # the encoder still learns
    model.set_epoch(1)
    _train(model, inputs, steps=1)
    assert (model.prototypes.weight - before).abs().max() > 1e-3


def test_queue_starts_at_its_epoch_joins_sinkhorn_when_full_and_is_saved(tmp_path):
    config = tiny_config(queue_size=8, queue_start_epoch=2)
    model = ViCCForPretraining(config).train()
    inputs = {"rgb": torch.randn(4, 2, 3, 4, 16, 16)}
    model.set_epoch(1)
    model(**inputs)
    assert len(model.queue) == 0
    model.set_epoch(2)
    model(**inputs)
    assert len(model.queue) == 4 and not model.queue.is_full
    model(**inputs)
    assert model.queue.is_full
    # once full, the queued embeddings (scored by the current prototypes) are balanced with the batch
    with torch.no_grad():
        z = [model.embed(inputs["rgb"][:, i]) for i in range(2)]  # train mode, as in forward
        scores = [model.prototypes(v) for v in z]
        past = model.queue.get().view(-1, 2, 16)
        expected = [
            sinkhorn_knopp(torch.cat([model.prototypes(past[:, i]), scores[i]]))[-4:] for i in range(2)
        ]
        loss = model(**inputs).loss
    torch.testing.assert_close(loss, swapped_prediction_loss(scores, expected, 0.1), rtol=1e-4, atol=1e-5)

    model.save_pretrained(tmp_path)
    restored = ViCCForPretraining.from_pretrained(tmp_path)
    for name in ("rows", "filled", "position"):
        assert torch.equal(getattr(restored.queue, name), getattr(model.queue, name))


def test_checkpoint_is_a_backbone_and_restores_the_heads(tmp_path):
    model = ViCCForPretraining(tiny_config(stream="flow", flow_channels=2))
    model.save_pretrained(tmp_path)
    backbone = AutoModel.from_pretrained(tmp_path)
    assert type(backbone) is type(model.backbone) and backbone.config.in_channels == 2
    assert backbone.config.pretraining["method"] == "vicc" and backbone.config.pretraining["stream"] == "flow"
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(backbone.state_dict()[key], value), key
    restored = ViCCForPretraining.from_pretrained(tmp_path)
    assert restored.config.stream == "flow" and restored.config.queue_start_epoch == 200
    for key, value in model.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value), key


def test_cross_stream_rounds(tiny_ucf_flow, tmp_path):
    torch.manual_seed(0)
    rgb1 = ViCCForPretraining(tiny_config())
    flow1 = ViCCForPretraining(tiny_config(stream="flow"))
    rgb1.save_pretrained(tmp_path / "rgb1")
    flow1.save_pretrained(tmp_path / "flow1")
    rounds = cross_stream_schedule(tmp_path / "rgb1", tmp_path / "flow1", tmp_path / "cross")
    assert [r.stream for r in rounds] == ["rgb", "flow", "rgb", "flow"]
    assert (rounds[0].init_from, rounds[0].frozen_from) == (tmp_path / "rgb1", tmp_path / "flow1")
    assert (rounds[1].init_from, rounds[1].frozen_from) == (tmp_path / "flow1", rounds[0].checkpoint)
    assert (rounds[2].init_from, rounds[2].frozen_from) == (rounds[0].checkpoint, rounds[1].checkpoint)

    model = ViCCForPretraining.for_round(rounds[0], queue_size=0)
    assert model.config.cross_stream and model.config.queue_start_epoch == 25
    assert model.config.freeze_prototypes_epochs == 0 and model.config.num_prototypes == 12
    assert torch.equal(model.prototypes.weight, rgb1.prototypes.weight)
    frozen = {k: v.clone() for k, v in model.second.state_dict().items()}
    for key, value in flow1.backbone.state_dict().items():
        assert torch.equal(frozen[f"backbone.{key}"], value), key

    inputs = _batch(model.config, tiny_ucf_flow)
    model.set_epoch(0)
    losses = _train(model, inputs, steps=4)
    assert losses[-1] < losses[0], losses
    assert not model.second.training
    for key, value in model.second.state_dict().items():  # weights and BN statistics untouched
        assert torch.equal(value, frozen[key]), key
    model.save_pretrained(rounds[0].checkpoint)
    restored = ViCCForPretraining.from_pretrained(rounds[0].checkpoint)
    assert restored.second is not None and not any(p.requires_grad for p in restored.second.parameters())
    with pytest.raises(ValueError, match="'rgb' stream"):
        model.load_frozen_stream(tmp_path / "rgb1")


def test_second_clip_without_gradient():
    config = tiny_config(second_clip_no_grad=True, batch_shuffle=True, queue_size=0)
    model = ViCCForPretraining(config).train()
    rgb = torch.randn(4, 2, 3, 4, 16, 16, requires_grad=True)
    model(rgb=rgb).loss.backward()
    assert rgb.grad[:, 0].abs().sum() > 0 and rgb.grad[:, 1].abs().sum() == 0


@torch.no_grad()
def test_prototype_assignments_and_cluster_metrics(tiny_ucf_root):
    """The arg-max of `prototype_scores` is what `hf-vssl cluster --assignments prototypes` scores."""
    config = tiny_config()
    model = ViCCForPretraining(config).eval()
    test = load_ucf101(tiny_ucf_root, split=1)["test"]
    data = VideoClipDataset(test, get_method("vicc").build_sampler(config), frame_size=(16, 20))
    augment = get_method("vicc").build_augment(config)
    loader = DataLoader(data, batch_size=6)
    batches, labels = [], []
    for batch in loader:
        batches.append(augment(batch)["rgb"][:, 0])
        labels.append(batch["label"])
    assignments = torch.cat([model.prototype_scores(clips).argmax(dim=1) for clips in batches]).numpy()
    assert assignments.shape == (len(test),) and assignments.dtype == np.int64
    assert assignments.min() >= 0 and assignments.max() < 12
    metrics = cluster_metrics(assignments, torch.cat(labels).numpy())
    assert set(metrics) == {"acc", "nmi", "ari", "entropy", "max_purity"} and 0 <= metrics["acc"] <= 1


def test_compact_r2plus1d_backbone():
    config = tiny_config(
        backbone_config={"model_type": "vssl-r2plus1d", "variant": "compact", "width_multiplier": 0.125}
    )
    out = ViCCForPretraining(config).train()(rgb=torch.randn(2, 2, 3, 4, 16, 16))
    assert torch.isfinite(out.loss) and out.embeddings.shape == (2, 16)


def test_default_backbone_is_s3d():
    pytest.importorskip("hf_vssl.models.s3d.configuration_s3d", reason="the S3D family has not landed")
    assert ViCCConfig().backbone_config.model_type == "vssl-s3d"
    config = tiny_config(backbone_config={"model_type": "vssl-s3d", "width_multiplier": 0.125})
    out = ViCCForPretraining(config).train()(rgb=torch.randn(2, 2, 3, 8, 32, 32))
    assert torch.isfinite(out.loss)
