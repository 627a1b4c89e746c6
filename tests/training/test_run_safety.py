"""A run never loses work: an output folder holds one run, --resume continues only that run,
rotation spares other runs' checkpoints, and a diverged run stops (or skips its bad steps)."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from hf_vssl.methods import build_method_config
from hf_vssl.optim.recipe import OptimizerRecipe
from hf_vssl.training.checkpointing import list_checkpoints, read_run_file
from hf_vssl.training.loop import TrainingArguments, TrainingDiverged, fit
from hf_vssl.training.pretrain import build_train_dataset

DIVERGING = {"learning_rate": 1e6, "epochs": 2}


def _train(spec, dataset, output_dir, max_steps, overrides=None, **arguments):
    config = build_method_config(spec.name, overrides={"epochs": 1, "batch_size": 4, **(overrides or {})})
    torch.manual_seed(0)
    model = spec.model_class(config)
    args = TrainingArguments(
        output_dir=output_dir, num_workers=0, max_steps=max_steps, logging_steps=1, progress_bar=False,
        **arguments,
    )  # fmt: skip
    train = build_train_dataset(spec, config, dataset["train"], seed=0)
    return fit(model, train, spec.build_augment(config), OptimizerRecipe.from_config(config), args)


def test_a_second_run_into_a_used_folder_is_refused_unless_overwrite(tiny_spec, tiny_dataset, tmp_path):
    first = _train(tiny_spec, tiny_dataset, tmp_path, max_steps=2)
    run_id = read_run_file(tmp_path)["run_id"]
    with pytest.raises(FileExistsError, match=r"already holds a run \(checkpoints\).*--resume.*--overwrite"):
        _train(tiny_spec, tiny_dataset, tmp_path, max_steps=1)
    assert list_checkpoints(tmp_path) == [first.last_checkpoint]  # untouched

    _train(tiny_spec, tiny_dataset, tmp_path, max_steps=1, overwrite=True)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-1"]  # the old run is gone
    assert read_run_file(tmp_path)["run_id"] != run_id


def test_resume_with_another_recipe_names_each_difference(tiny_spec, tiny_dataset, tmp_path):
    _train(tiny_spec, tiny_dataset, tmp_path, max_steps=1)
    with pytest.raises(ValueError, match=r"is of another run; checkpoint -> now: .*") as error:
        _train(tiny_spec, tiny_dataset, tmp_path, max_steps=2, overrides={"learning_rate": 0.2}, resume=True)
    assert "recipe.learning_rate: 0.05 -> 0.2" in str(error.value)
    assert "config.learning_rate: 0.05 -> 0.2" in str(error.value)
    assert "\n" not in str(error.value)
    resumed = _train(tiny_spec, tiny_dataset, tmp_path, max_steps=2, resume=True)  # the same run resumes
    assert resumed.global_step == 2


def test_rotation_deletes_only_the_current_runs_checkpoints(tiny_spec, tiny_dataset, tmp_path):
    _train(tiny_spec, tiny_dataset, tmp_path / "other", max_steps=1, save_steps=1)
    _train(tiny_spec, tiny_dataset, tmp_path / "run", max_steps=2, save_steps=1, save_total_limit=1)
    foreign = tmp_path / "run" / "checkpoints" / "checkpoint-1"
    shutil.copytree(tmp_path / "other" / "checkpoints" / "checkpoint-1", foreign)
    _train(
        tiny_spec, tiny_dataset, tmp_path / "run", max_steps=4, save_steps=1, save_total_limit=1, resume=True
    )
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["checkpoint-1", "checkpoint-4"]  # the other run's checkpoint survived rotation
    assert read_run_file(foreign)["run_id"] == read_run_file(tmp_path / "other")["run_id"]


def test_divergence_stops_the_run_naming_the_term_step_and_last_checkpoint(tiny_spec, tiny_dataset, tmp_path):
    # learning rate 1e6: the loss is NaN within a few steps (at step 6 of this tiny run)
    with pytest.raises(
        TrainingDiverged, match=r"non-finite loss.* at step (\d+); last good checkpoint: "
    ) as error:
        _train(tiny_spec, tiny_dataset, tmp_path, max_steps=8, overrides=DIVERGING, save_steps=1)
    step = int(str(error.value).split(" at step ")[1].split(";")[0])
    good = list_checkpoints(tmp_path)
    assert good and good[-1].name == f"checkpoint-{step - 1}"  # no checkpoint of a non-finite step
    assert str(good[-1]) in str(error.value)


def test_skip_nonfinite_steps_counts_and_skips_them(tiny_spec, tiny_dataset, tmp_path):
    result = _train(tiny_spec, tiny_dataset, tmp_path, 8, DIVERGING, skip_nonfinite_steps=True)
    assert result.global_step == 8 and result.skipped_steps >= 1
    assert sum(s["skipped_steps"] for s in result.epoch_summaries) == result.skipped_steps
    logged = [h["loss"] for h in result.history if "loss" in h]  # one step per logging window
    assert len(logged) == 8 - result.skipped_steps and all(math.isfinite(loss) for loss in logged)
