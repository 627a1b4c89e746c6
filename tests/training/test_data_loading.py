"""The loop's data-loader settings: worker count from the cores this process may use, and the share of
the step time spent waiting for data logged where a user looks (progress bar, TensorBoard, epoch line)."""

from __future__ import annotations

import math
import os
import time

import datasets
import pytest
from accelerate.state import AcceleratorState
from huggingface_hub.errors import StrictDataclassError
from torch.utils.data import Dataset

from hf_vssl.data.prepare import prepare_dataset
from hf_vssl.data.sources import load_video_dataset
from hf_vssl.methods import build_method_config
from hf_vssl.optim.recipe import OptimizerRecipe
from hf_vssl.training.loop import TrainingArguments, default_num_workers, fit
from hf_vssl.training.pretrain import build_train_dataset, pretrain


class SlowDataset(Dataset):
    """The real clip dataset, each item `delay` seconds late: an input pipeline slower than the model."""

    def __init__(self, clips: Dataset, delay: float) -> None:
        self.clips, self.delay = clips, delay

    def __len__(self) -> int:
        return len(self.clips)

    def set_epoch(self, epoch: int) -> None:
        self.clips.set_epoch(epoch)

    def __getitem__(self, index: int):
        time.sleep(self.delay)
        return self.clips[index]


BATCH, DELAY = 4, 0.25  # one second of sleeping per step of 4 clips


def _fit(spec, dataset, output_dir, delay: float):
    AcceleratorState._reset_state()
    config = build_method_config(spec.name, overrides={"epochs": 1, "batch_size": BATCH})
    args = TrainingArguments(
        output_dir=output_dir, num_workers=0, max_steps=2, logging_steps=1, progress_bar=False
    )
    train = SlowDataset(build_train_dataset(spec, config, dataset["train"], seed=0), delay)
    return fit(
        spec.model_class(config), train, spec.build_augment(config), OptimizerRecipe.from_config(config), args
    )


def test_data_wait_is_logged_and_shows_a_slow_input_pipeline(tiny_spec, tiny_dataset, tmp_path, capsys):
    slow = _fit(tiny_spec, tiny_dataset, tmp_path / "slow", delay=DELAY)
    fast = _fit(tiny_spec, tiny_dataset, tmp_path / "fast", delay=0.0)
    assert all(0.0 <= h["data_wait"] <= 1.0 for h in slow.history + fast.history)
    for step in slow.history:  # one step per logging window: its seconds are clips / clips_per_s
        waited = step["data_wait"] * BATCH / step["clips_per_s"]
        assert waited >= 0.95 * BATCH * DELAY  # at least the sleeps (whatever the machine's load)
    assert slow.history[-1]["data_wait"] > fast.history[-1]["data_wait"]
    assert "data_wait" in slow.epoch_summaries[0]
    assert "data wait" in capsys.readouterr().out  # the epoch line
    events = b"".join(path.read_bytes() for path in (tmp_path / "slow").rglob("events.out.tfevents*"))
    assert b"train/data_wait" in events and b"epoch/data_wait" in events


def test_default_workers_share_this_process_cores(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert default_num_workers() == cores
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(cores * 2))
    assert default_num_workers() == 1  # never 0: one decoding process per training process at least
    with pytest.raises(ValueError, match="prefetch_factor"):
        TrainingArguments(output_dir="x", prefetch_factor=0)


def test_frame_size_none_trains_on_a_prepared_copy_at_its_own_size(tiny_spec, tiny_ucf_root, tmp_path):
    """A prepared copy already has the training size: frame_size None decodes it as is, end to end."""
    prepare_dataset(tiny_ucf_root, tmp_path / "prepared", short_side=40, progress=False)  # 64x80 -> 40x50
    AcceleratorState._reset_state()
    config = build_method_config(
        tiny_spec.name, overrides={"epochs": 1, "batch_size": BATCH, "frame_size": None}
    )
    train = build_train_dataset(tiny_spec, config, load_video_dataset(tmp_path / "prepared")["train"], seed=0)
    assert train.frame_size is None and train[0]["views"]["clip0"].shape[1:] == (40, 50, 3)
    args = TrainingArguments(output_dir=tmp_path / "run", num_workers=0, max_steps=1, progress_bar=False)
    result = fit(
        tiny_spec.model_class(config),
        train,
        tiny_spec.build_augment(config),
        OptimizerRecipe.from_config(config),
        args,
    )
    assert result.global_step == 1 and math.isfinite(result.epoch_summaries[0]["loss"])


def test_pretrain_takes_a_videofolder_dataset_dict(tiny_spec, tiny_videofolder, tmp_path, monkeypatch):
    """The Python API on `load_dataset("videofolder")`'s output: decoding Video cells, no frame counts."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_datasets")
    dataset = datasets.load_dataset("videofolder", data_dir=str(tiny_videofolder))
    AcceleratorState._reset_state()
    config = build_method_config(tiny_spec.name, overrides={"epochs": 1, "batch_size": BATCH})
    args = TrainingArguments(output_dir=tmp_path / "run", num_workers=0, max_steps=1, progress_bar=False)
    output = pretrain(config, dataset, args)
    assert output.result.global_step == 1 and math.isfinite(output.result.epoch_summaries[0]["loss"])
    assert output.result.epoch_summaries[0]["skipped_videos"] == 0
    with pytest.raises(ValueError, match=r"reads the 'train' split; the dataset has \['test'\]"):
        pretrain(config, datasets.DatasetDict(test=dataset["test"]), args)


def test_repeated_samples_keep_the_steps_of_an_epoch(tiny_spec, tiny_dataset, tmp_path, caplog):
    """K=2: each decoded video gives 2 samples, batch_size still counts samples, an epoch keeps its steps."""
    steps = {}
    for repeats in (1, 2):
        AcceleratorState._reset_state()
        config = build_method_config(
            tiny_spec.name, overrides={"epochs": 1, "batch_size": 8, "repeated_samples": repeats}
        )
        train = build_train_dataset(tiny_spec, config, tiny_dataset["train"], seed=0)
        args = TrainingArguments(output_dir=tmp_path / str(repeats), num_workers=0, progress_bar=False)
        result = fit(
            tiny_spec.model_class(config),
            train,
            tiny_spec.build_augment(config),
            OptimizerRecipe.from_config(config),
            args,
        )
        assert math.isfinite(result.epoch_summaries[0]["loss"])
        steps[repeats] = result.global_step
    assert steps[2] == steps[1] == len(tiny_dataset["train"]) // 8
    assert "one another's negatives" in caplog.text  # the tiny method contrasts the batch: warned


def test_repeated_samples_must_divide_the_batch(tiny_spec, tiny_dataset, tmp_path):
    with pytest.raises(StrictDataclassError) as error:  # the CLI prints its cause, one line
        build_method_config(tiny_spec.name, overrides={"batch_size": 6, "repeated_samples": 4})
    cause = str(error.value.__cause__)
    assert cause.startswith("repeated_samples must be a divisor of batch_size 6") and "\n" not in cause
    AcceleratorState._reset_state()
    config = build_method_config(tiny_spec.name, overrides={"batch_size": 4, "repeated_samples": 4})
    args = TrainingArguments(output_dir=tmp_path, num_workers=0, gradient_accumulation_steps=2)
    train = build_train_dataset(tiny_spec, config, tiny_dataset["train"], seed=0)
    with pytest.raises(ValueError, match=r"repeated_samples 4 must divide the batch of each process .*\(2\)"):
        fit(
            tiny_spec.model_class(config),
            train,
            tiny_spec.build_augment(config),
            config.optimizer_recipe,
            args,
        )
