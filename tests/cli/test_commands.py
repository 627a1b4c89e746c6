"""The training and evaluation commands: help, one-line errors for bad arguments, config files, and
a pretrain -> probe / retrieve / cluster round trip on the tiny dataset."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModel

from hf_vssl.cli.main import main
from hf_vssl.data.processor import VsslVideoProcessor

COMMANDS = ("pretrain", "probe", "finetune", "retrieve", "cluster", "demo")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: hf-vssl {command}" in capsys.readouterr().out


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_unknown_method_is_a_one_line_error(capsys, tiny_ucf_root, tmp_path):
    err = _one_line_error(
        capsys,
        ["pretrain", "--method", "nope", "--dataset", str(tiny_ucf_root), "--output-dir", str(tmp_path)],
    )
    assert err.startswith("hf-vssl pretrain: error: unknown method 'nope'; choose one of:")


@pytest.mark.parametrize("command", ["pretrain", "probe", "retrieve"])
def test_missing_dataset_folder_is_a_one_line_error(command, capsys, tmp_path, tiny_method_name):
    network = ["--method", tiny_method_name] if command == "pretrain" else ["--backbone", "r3d"]
    err = _one_line_error(
        capsys, [command, *network, "--dataset", str(tmp_path / "absent"), "--output-dir", str(tmp_path)]
    )
    assert f"dataset folder {tmp_path / 'absent'} does not exist" in err


def test_crop_larger_than_frames_is_a_one_line_error(capsys, tiny_ucf_root, tmp_path, tiny_method_name):
    common = ["--dataset", str(tiny_ucf_root), "--output-dir", str(tmp_path)]
    err = _one_line_error(
        capsys, ["pretrain", "--method", tiny_method_name, "--set", "crop_size=64", *common]
    )
    assert "crop_size 64 is larger than the decoded frames 40x50" in err
    err = _one_line_error(capsys, ["probe", "--backbone", "r3d", "--crop-size", "200", *common])
    assert "crop_size 200 is larger than the decoded frames 128x171" in err


def test_bad_assignments_and_config_keys_are_one_line_errors(
    capsys, tiny_ucf_root, tmp_path, tiny_method_name
):
    common = ["--dataset", str(tiny_ucf_root), "--output-dir", str(tmp_path)]
    err = _one_line_error(capsys, ["pretrain", "--method", tiny_method_name, "--set", "crop_size", *common])
    assert "--set expects KEY=VALUE, got 'crop_size'" in err
    err = _one_line_error(
        capsys, ["pretrain", "--method", tiny_method_name, "--set", "not_a_field=1", *common]
    )
    assert "unknown TinyContrastConfig field(s) ['not_a_field']" in err
    err = _one_line_error(
        capsys, ["pretrain", "--method", tiny_method_name, "--set", "num_frames=abc", *common]
    )
    assert err.endswith("--set num_frames must be an int, got 'abc' (str)")
    err = _one_line_error(
        capsys,
        ["pretrain", "--method", tiny_method_name, "--backbone-config", "widht_multiplier=0.1", *common],
    )
    assert "--backbone-config: unknown R3DConfig field(s) ['widht_multiplier']" in err
    config = tmp_path / "run.yaml"
    config.write_text("method: tiny-contrast\nbogus_option: 3\n")
    err = _one_line_error(capsys, ["pretrain", "--config", str(config), *common])
    assert "unknown option 'bogus_option'" in err


def test_pretrain_then_evaluate_from_the_command_line(capsys, tiny_ucf_root, tmp_path, tiny_method_name):
    config = tmp_path / "run.yaml"
    # the file sets the method and recipe; the command line's --max-steps wins over the file's
    config.write_text(
        f"method: {tiny_method_name}\nmax_steps: 50\nnum_workers: 0\n"
        "method_config:\n  epochs: 1\n  batch_size: 8\n  learning_rate: 1e-3\n"
        "backbone_config:\n  width_multiplier: 0.125\n"
    )
    run_dir = tmp_path / "run"
    argv = [
        "pretrain",
        "--config",
        str(config),
        "--dataset",
        str(tiny_ucf_root),
        "--output-dir",
        str(run_dir),
    ]
    assert main([*argv, "--max-steps", "2", "--no-progress-bar"]) == 0
    out = capsys.readouterr().out
    model_dir = run_dir / "model"
    assert f"model: {model_dir}" in out
    assert (model_dir / "model.safetensors").is_file() and (model_dir / "README.md").is_file()
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    backbone = AutoModel.from_pretrained(model_dir)
    assert backbone.config.pretraining["method"] == tiny_method_name
    assert backbone.config.pretraining["learning_rate"] == 0.001  # YAML 1.1 reads 1e-3 as text
    processor = VsslVideoProcessor.from_pretrained(model_dir)  # the training clip, for inference
    assert (processor.num_frames, processor.frame_size, processor.crop_size) == (4, [40, 50], [32, 32])

    protocol = [
        "--num-clips",
        "2",
        "--num-workers",
        "0",
        "--dataset",
        str(tiny_ucf_root),
        "--model",
        str(model_dir),
    ]
    assert main(["probe", *protocol, "--probe-epochs", "2", "--output-dir", str(tmp_path / "probe")]) == 0
    assert main(["retrieve", *protocol, "--output-dir", str(tmp_path / "retrieve")]) == 0
    assert main(["cluster", *protocol, "--output-dir", str(tmp_path / "cluster")]) == 0
    probe = json.loads((tmp_path / "probe" / "probe.json").read_text())
    # the test clips are those of the processor saved with the checkpoint
    assert probe["processor"] == VsslVideoProcessor.from_pretrained(model_dir).to_dict() | {"num_clips": 2}
    assert set(next(iter(probe["results"].values()))) == {"top1", "top5"}
    retrieval = json.loads((tmp_path / "retrieve" / "retrieval.json").read_text())
    assert set(next(iter(retrieval["results"].values()))) == {"R@1", "R@5", "R@10", "R@20", "R@50"}
    assert (tmp_path / "cluster" / "tsne.png").stat().st_size > 1000
    card = (model_dir / "README.md").read_text()
    assert (
        "### Linear probe on" in card and "### Retrieval on" in card and "### Clustering (kmeans) on" in card
    )
