"""The zoo table, the model cards rendered from it, and `hf-vssl zoo`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard

from hf_vssl.cli.main import main
from hf_vssl.hub.cards import WeightsOrigin, load_results, render_card, write_cards
from hf_vssl.hub.convert import SOURCES
from hf_vssl.hub.zoo import ZOO, Result, get_preset
from hf_vssl.methods.registry import METHODS

MODEL_CARDS = Path(__file__).resolve().parents[2] / "model_cards"
ISSUE_PRESETS = (
    "vicc-s3d",
    "vicc-r21d",
    "vicc-flow-s3d",
    "pace-r21d",
    "pace-c3d",
    "mfo-r3d18",
    "mfo-s3d",
    "sdc-r21d",
)


def test_zoo_names_the_issue_presets_once_each():
    names = [preset.name for preset in ZOO]
    assert len(names) == len(set(names))
    assert set(ISSUE_PRESETS) <= set(names)
    assert get_preset("vssl/vicc-s3d") is get_preset("vicc-s3d")
    with pytest.raises(ValueError, match=r"unknown preset 'vicc-nope'.*vicc-s3d"):
        get_preset("vicc-nope")


@pytest.mark.parametrize("preset", ZOO, ids=lambda p: p.name)
def test_preset_builds_its_backbone_and_cites_its_numbers(preset):
    config = preset.backbone_config(width_multiplier=0.125)
    assert config.model_type == preset.backbone_type
    for name, value in preset.backbone_kwargs:
        assert getattr(config, name) == value
    assert preset.method in ("vicc", "pace", "mfo", "sdc")
    assert preset.convert_from is None or preset.convert_from in SOURCES
    for result in preset.reported:
        assert " supp. Table " in result.source, result  # every paper number names its supplementary table
    assert preset.repo_id == f"vssl/{preset.name}"


@pytest.mark.parametrize("preset", ZOO, ids=lambda p: p.name)
def test_training_builds_each_preset(preset):
    """`hf-vssl pretrain --preset <name>` reads the table: method, backbone, clip length, crop and frame size."""
    if preset.method not in METHODS:
        pytest.skip(f"method '{preset.method}' is not registered yet")
    from hf_vssl.methods import build_method_config

    config = build_method_config(preset=preset, backbone_overrides={"width_multiplier": 0.125})
    assert config.backbone_config.model_type == preset.backbone_type
    assert (config.num_frames, config.crop_size) == (preset.num_frames, preset.crop_size)
    frame_size = dict(preset.method_config).get("frame_size")
    if frame_size:  # e.g. pace-s3dg decodes 256 x 256 for its 224 crop
        assert config.frame_size == list(frame_size)


def test_result_validates_its_fields():
    with pytest.raises(ValueError, match="task must be one of"):
        Result("probe", "ucf101", "top-1", 50.0, "x", "ucf101")
    with pytest.raises(ValueError, match="dataset must be one of"):
        Result("finetune", "ucf", "top-1", 50.0, "x", "ucf101")
    with pytest.raises(ValueError, match="percentage"):
        Result("finetune", "ucf101", "top-1", 0.5e3, "x", "ucf101")
    with pytest.raises(ValueError, match="must start with"):
        Result("retrieval", "ucf101", "top-1", 50.0, "x", "ucf101")


MEASURED = (
    Result("linear-probe", "ucf101", "top-1", 61.25, "hf-vssl evaluate (test run)", "ucf101"),
    Result("retrieval", "hmdb51", "R@1", 22.5, "hf-vssl retrieval (test run)", "ucf101"),
)


def test_card_metadata_round_trips_through_the_hub_format(tmp_path):
    preset = get_preset("vicc-r21d")
    card = render_card(preset, measured=MEASURED, origin=WeightsOrigin("trained", "Test run."))
    card.save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")

    assert loaded.data.library_name == "transformers"
    assert {"hf-vssl", "vicc", "r2plus1d", "rgb-stream"} <= set(loaded.data.tags)
    assert loaded.data.datasets == ["hmdb51", "ucf101"]
    assert loaded.data.model_name == "vicc-r21d"
    index = [
        (r.task_type, r.dataset_type, r.metric_name, r.metric_value, r.source_name)
        for r in loaded.data.eval_results
    ]
    assert index == [
        ("video-classification", "ucf101", "top-1", 61.25, "hf-vssl evaluate (test run)"),
        ("video-retrieval", "hmdb51", "R@1", 22.5, "hf-vssl retrieval (test run)"),
    ]
    assert loaded.data.to_dict() == card.data.to_dict()
    metadata = yaml.safe_load(loaded.content.split("---")[1])
    assert metadata["model-index"][0]["name"] == "vicc-r21d"
    # the paper's numbers are in the body, labelled, never in the model-index
    body = loaded.text
    assert "Reported in the paper (the paper's numbers, not measured on these weights)" in body
    for reported in preset.reported:
        assert f"| {reported.value:.1f} |" in body
    assert "ViCC supp. Table 3" in body
    assert {r.metric_value for r in loaded.data.eval_results}.isdisjoint({r.value for r in preset.reported})
    assert 'AutoModel.from_pretrained("vssl/vicc-r21d")' in body
    assert "trust_remote_code=True" in body
    assert "**Weights:** pretrained with hf-vssl. Test run." in body


def test_card_without_measurements_has_no_model_index(tmp_path):
    card = render_card(get_preset("pace-c3d"))
    assert card.data.eval_results is None
    assert "model-index" not in card.content.split("---")[1]
    assert "No result of these weights has been measured" in card.text
    assert "convert the authors' release with `hf-vssl convert --from pace`" in card.text


def test_converted_card_states_the_original_input():
    origin = WeightsOrigin("converted", "Source file `x.pth`.", "BGR frames 0-255")
    text = render_card(get_preset("pace-r21d"), origin=origin).text
    assert "expect the original network's input: BGR frames 0-255" in text
    assert "converted from the authors' release with `hf-vssl convert --from pace`" in text
    assert "license of the original release" in text


def test_committed_model_cards_match_the_table():
    """model_cards/ is generated by `hf-vssl zoo --write-cards model_cards/`: regenerate it when this fails."""
    committed = sorted(path.name for path in MODEL_CARDS.glob("*.md"))
    assert committed == sorted(f"{preset.name}.md" for preset in ZOO)
    for preset in ZOO:
        assert (MODEL_CARDS / f"{preset.name}.md").read_text() == str(render_card(preset)), preset.name


def test_zoo_cli_prints_the_table_and_writes_cards(tmp_path, capsys):
    assert main(["zoo"]) == 0
    table = capsys.readouterr().out
    for preset in ZOO:
        assert preset.name in table
    assert "probe 72.2 / 38.5 (ViCC supp. Table 3)" in table  # vicc-s3d, RGB alone
    assert main(["zoo", "--write-cards", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(f"{p.name}.md" for p in ZOO)
    assert (
        write_cards(tmp_path / "again", [get_preset("mfo-r3d18")])[0].read_text()
        == (tmp_path / "mfo-r3d18.md").read_text()
    )


def test_load_results_reads_and_checks_a_json_list(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps([{**MEASURED[0].__dict__}]))
    assert load_results(path) == (MEASURED[0],)
    path.write_text(json.dumps([{"task": "finetune", "value": 3}]))
    with pytest.raises(ValueError, match=r"results.json, entry 0"):
        load_results(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_results(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_results(tmp_path / "missing.json")
