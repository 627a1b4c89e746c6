"""Learning you can watch: the kNN monitor's curve (`monitor.jsonl`) and the mid-run exports."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import monitor_worker
import pytest
import torch
from accelerate.state import AcceleratorState
from transformers import AutoModel

from hf_vssl.data.decoding import video_path
from hf_vssl.data.sources import load_video_dataset
from hf_vssl.evaluation.features import cached_backbone_features
from hf_vssl.methods import build_method_config
from hf_vssl.optim.recipe import OptimizerRecipe
from hf_vssl.training.checkpointing import checkpoint_dir
from hf_vssl.training.loop import TrainingArguments, fit, make_accelerator
from hf_vssl.training.monitor import MONITOR_FILE, KnnSettings, weighted_knn_accuracy
from hf_vssl.training.pretrain import build_train_dataset, pretrain

MONITOR_WORKER = Path(__file__).parent / "monitor_worker.py"


def _pretrain(spec, dataset, output_dir, **training):
    AcceleratorState._reset_state()
    config = build_method_config(spec.name, overrides={"epochs": 2, "batch_size": 4})
    args = TrainingArguments(
        output_dir=output_dir, num_workers=0, logging_steps=1, progress_bar=False, report_to="none",
        monitor_every=1, **training,
    )  # fmt: skip
    return pretrain(config, dataset, args)


def _lines(output_dir):
    return [json.loads(line) for line in (output_dir / MONITOR_FILE).read_text().splitlines()]


@pytest.fixture(scope="module")
def straight(tiny_spec, tiny_dataset, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("straight")
    return _pretrain(tiny_spec, tiny_dataset, output_dir, export_epochs=[1]), output_dir


def test_weighted_knn_lets_close_neighbours_outvote_many_far_ones():
    bank = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.6, 0.8], [0.0, 1.0]])
    labels = torch.tensor([1, 0, 0, 2])
    query = torch.tensor([[1.0, 0.05]])  # cosine 0.999 to class 1, 0.64 to the two of class 0
    settings = KnnSettings(k=3)
    assert weighted_knn_accuracy(bank, labels, query, torch.tensor([1]), settings)["top1"] == 1.0
    # with a flat vote (a high temperature) the two class-0 neighbours win, class 1 is second
    flat = weighted_knn_accuracy(bank, labels, query, torch.tensor([1]), KnnSettings(k=3, temperature=100.0))
    assert flat == {"top1": 0.0, "top5": 1.0}


def test_monitor_writes_the_reference_and_every_epoch_as_evaluation_scores_them(straight, tiny_dataset):
    output, output_dir = straight
    lines = _lines(output_dir)
    assert [(line["epoch"], line["step"]) for line in lines] == [(0, 0), (1, 6), (2, 12)]
    assert all(0.0 <= line["knn_top1_label"] <= line["knn_top5_label"] <= 1.0 for line in lines)
    assert all(line["skipped_videos"] == 0 and line["seconds"] > 0 for line in lines)
    assert [s["knn_top1_label"] for s in output.result.epoch_summaries] == [
        lines[1]["knn_top1_label"],
        lines[2]["knn_top1_label"],
    ]
    # the last pass = a kNN on the evaluation code's features of the exported model's centre clips
    expected = evaluation_knn(output, tiny_dataset["train"], tiny_dataset["test"], output_dir)
    assert expected == {"top1": lines[2]["knn_top1_label"], "top5": lines[2]["knn_top5_label"]}


def evaluation_knn(output, train_split, test_split, output_dir) -> dict[str, float]:
    """The weighted kNN, train -> test, of the evaluation code's features of the exported model's centre
    clips: what a monitor pass at the end of the run must equal."""
    processor = dataclasses.replace(output.model.config.video_processor(), num_clips=1)
    backbone = AutoModel.from_pretrained(output.model_dir)
    accelerator = make_accelerator(TrainingArguments(output_dir=output_dir), trackers=False)
    train, test = (
        cached_backbone_features(
            backbone, split, processor, accelerator=accelerator, cache_dir=None, num_workers=0, progress=False
        )
        for split in (train_split, test_split)
    )
    return weighted_knn_accuracy(train.outputs, train.labels, test.outputs, test.labels, KnnSettings())


def test_an_epoch_export_loads_with_automodel(straight):
    output, output_dir = straight
    folder = output_dir / "model-epoch-1"
    backbone = AutoModel.from_pretrained(folder)
    assert type(backbone) is type(output.model.backbone)
    assert (folder / "video_preprocessor_config.json").is_file()
    assert "1 epoch(s) / 6 optimizer steps" in (folder / "README.md").read_text()
    final = AutoModel.from_pretrained(output.model_dir)
    name = next(iter(backbone.state_dict()))
    assert not torch.equal(backbone.state_dict()[name], final.state_dict()[name])  # epoch 1, not the end


def test_undecodable_monitor_videos_are_skipped_counted_and_named(tiny_spec, tiny_ucf_root, tmp_path, caplog):
    root = tmp_path / "data"
    shutil.copytree(tiny_ucf_root, root)
    dataset = load_video_dataset(root)
    bad = video_path(dataset["test"][1]["video"])
    Path(bad).write_bytes(b"not a video" * 100)
    with caplog.at_level(logging.WARNING, logger="hf_vssl.training.monitor"):
        _pretrain(tiny_spec, dataset, tmp_path / "run", max_steps=1)
    (reference,) = _lines(tmp_path / "run")
    assert reference["skipped_videos"] == 1
    assert "skipped 1 undecodable video(s) of the test split" in caplog.text and bad in caplog.text


def test_monitor_and_exports_are_refused_where_nothing_does_them(tiny_spec, tiny_dataset, tmp_path):
    config = build_method_config(tiny_spec.name)
    train = build_train_dataset(tiny_spec, config, tiny_dataset["train"], seed=0)
    for option in ({"monitor_every": 1}, {"export_epochs": [1]}):
        args = TrainingArguments(output_dir=tmp_path, num_workers=0, **option)
        with pytest.raises(ValueError, match="done by pretraining"):
            fit(
                tiny_spec.model_class(config),
                train,
                tiny_spec.build_augment(config),
                OptimizerRecipe.from_config(config),
                args,
            )
    with pytest.raises(ValueError, match=r"export_epochs \[3\] are past the run's 2 epochs"):
        _pretrain(tiny_spec, tiny_dataset, tmp_path / "late", export_epochs=[1, 3])


@pytest.mark.slow  # two runs
def test_a_resumed_run_continues_the_same_curve(straight, tiny_spec, tiny_dataset, tmp_path):
    _, straight_dir = straight
    # stop at step 8 with checkpoints at 4 and 8, then resume from step 4 (inside epoch 1): the epoch-1 line
    # written after it is dropped and made again, the reference is not
    split = tmp_path / "split"
    _pretrain(tiny_spec, tiny_dataset, split, max_steps=8, save_steps=4, save_total_limit=0)
    assert [line["epoch"] for line in _lines(split)] == [0, 1]
    _pretrain(tiny_spec, tiny_dataset, split, resume=str(checkpoint_dir(split, 4)))
    strip = [{k: v for k, v in line.items() if k != "seconds"} for line in _lines(straight_dir)]
    assert [{k: v for k, v in line.items() if k != "seconds"} for line in _lines(split)] == strip


@pytest.mark.slow  # two launched processes: ~90 s on 2 busy cores
def test_two_processes_score_what_one_process_scores(tiny_ucf_root, tmp_path):
    """Each process encodes every other video; the gathered features give the one-process numbers."""
    from test_distributed import _launch_two

    done = _launch_two(MONITOR_WORKER, "--root", str(tiny_ucf_root), "--output-dir", str(tmp_path / "two"))
    assert "run: 2 process(es), gloo" in done.stdout
    AcceleratorState._reset_state()
    monitor_worker.run(str(tiny_ucf_root), tmp_path / "one")
    (two,), (one,) = _lines(tmp_path / "two"), _lines(tmp_path / "one")
    assert {k: v for k, v in two.items() if k != "seconds"} == {
        k: v for k, v in one.items() if k != "seconds"
    }
