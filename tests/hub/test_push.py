"""`hf-vssl push` / `model.push_to_hub`: the staged file set, the card made from the checkpoint's own
config, and the upload planned by huggingface_hub.

The upload runs huggingface_hub's real commit planning (`HfApi.create_commit`: README validation,
preupload, commit payload); only the HTTP transport is replaced, by an `httpx2.MockTransport` that
answers as the Hub does and records what would have been sent.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict

import httpx2
import pytest
import torch
from huggingface_hub import ModelCard, set_client_factory
from huggingface_hub.utils._http import default_client_factory

from hf_vssl.cli.main import main
from hf_vssl.data.processor import VsslVideoProcessor
from hf_vssl.hub.convert import CONVERSION_RECORD
from hf_vssl.hub.push import PICKLE_SUFFIXES, push_checkpoint, stage_repository
from hf_vssl.hub.zoo import Result, get_preset
from hf_vssl.methods.registry import build_method_config, get_method

PACE = get_preset("pace-r21d")  # R(2+1)D compact, 16 x 112 x 112 clips: the smallest preset with numbers
CODE_FILES = {"configuration_r2plus1d.py", "modeling_r2plus1d.py", "modeling_utils.py", "typed_fields.py"}
BACKBONE_FILES = {"config.json", "model.safetensors", "README.md", *CODE_FILES}
PROCESSOR = "video_preprocessor_config.json"
PAPER_NUMBER = "| finetune | UCF-101 | top-1 | 75.9 |"  # ViCC supp. Table 3, Pace Pred row


@pytest.fixture
def checkpoint(tmp_path, tiny_backbone):
    """A saved random R(2+1)D backbone, with the clutter a training run leaves beside it."""
    path = tmp_path / "checkpoint"
    tiny_backbone(PACE.backbone_type, **dict(PACE.backbone_kwargs)).save_pretrained(path)
    torch.save({"step": 3, "momentum_buffer": torch.zeros(3)}, path / "optimizer.pt")
    torch.save({"w": torch.zeros(2)}, path / "pytorch_model.bin")
    (path / "trainer_state.json").write_text("{}")
    return path


def pace_model(width_multiplier: float):
    """A Pace pretraining model of preset pace-r21d's configuration at `width_multiplier`."""
    torch.manual_seed(0)
    config = build_method_config(preset=PACE, backbone_overrides={"width_multiplier": width_multiplier})
    return get_method("pace").model_class(config).eval()


@pytest.fixture
def hub_http():
    """Route huggingface_hub's HTTP client to a fake Hub; yields the list of recorded requests."""
    requests: list[dict] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        requests.append({"method": request.method, "path": path, "body": request.content})
        if path == "/api/repos/create":
            body = json.loads(request.content)
            repo_id = f"{body['organization']}/{body['name']}" if body.get("organization") else body["name"]
            return httpx2.Response(200, json={"url": f"https://huggingface.co/{repo_id}", "name": repo_id})
        if path == "/api/validate-yaml":
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if path.endswith("/preupload/main"):
            files = json.loads(request.content)["files"]
            modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
            return httpx2.Response(200, json={"files": modes, "commitOid": "0" * 40})
        if path.endswith("/commit/main"):
            repo_id = path.removeprefix("/api/models/").removesuffix("/commit/main")
            url = f"https://huggingface.co/{repo_id}/commit/" + "a" * 40
            return httpx2.Response(
                200, json={"commitUrl": url, "commitOid": "a" * 40, "pullRequestUrl": None}
            )
        if "/tree/" in path:  # the check that the commit holds every file
            files = committed_files(requests[:-1])
            return httpx2.Response(200, json=[{"type": "file", "path": name, "size": len(content), "oid": "b" * 40} for name, content in files.items()])  # fmt: skip
        return httpx2.Response(404, json={"error": f"{path} is not part of the fake Hub"})

    set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(handle)))
    try:
        yield requests
    finally:
        set_client_factory(default_client_factory)


def committed_files(requests: list[dict]) -> dict[str, bytes]:
    """path -> content of the files in the commit payload (ndjson, base64 content)."""
    (commit,) = [r for r in requests if r["path"].endswith("/commit/main")]
    lines = [json.loads(line) for line in commit["body"].decode().splitlines()]
    assert lines[0]["key"] == "header"
    return {line["value"]["path"]: base64.b64decode(line["value"]["content"]) for line in lines[1:]}


def test_stage_repository_of_a_random_backbone(checkpoint, tmp_path):
    staged = stage_repository(checkpoint, tmp_path / "repo", repo_id="alice/my-r21d")
    assert set(staged) == BACKBONE_FILES  # no processor: nothing records this backbone's input
    assert not any(name.endswith(PICKLE_SUFFIXES) for name in staged)
    config = json.loads((tmp_path / "repo" / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_r2plus1d.R2Plus1DModel"
    assert config["auto_map"]["AutoBackbone"] == "modeling_r2plus1d.R2Plus1DBackbone"
    assert (tmp_path / "repo" / "model.safetensors").read_bytes() == (
        checkpoint / "model.safetensors"
    ).read_bytes()
    card = ModelCard.load(tmp_path / "repo" / "README.md")
    assert (card.data.model_name, card.data.pipeline_tag, card.data.license) == (
        "my-r21d",
        "feature-extraction",
        "apache-2.0",
    )
    assert 'AutoModel.from_pretrained("alice/my-r21d")' in card.text
    assert "randomly initialised" in card.text and "paper" not in card.text
    with pytest.raises(ValueError, match="is not empty"):
        stage_repository(checkpoint, tmp_path / "repo", repo_id="alice/my-r21d")


def test_push_uploads_the_staged_files_through_huggingface_hub(checkpoint, hub_http):
    commit = push_checkpoint(checkpoint, "alice/my-r21d", token="hf_test_token")
    assert commit.commit_url.endswith("a" * 40)
    assert [
        r["path"]
        for r in hub_http
        if r["path"].startswith("/api/models") or r["path"].startswith("/api/repos")
    ] == [
        "/api/repos/create",
        "/api/models/alice/my-r21d/preupload/main",
        "/api/models/alice/my-r21d/commit/main",
        "/api/models/alice/my-r21d/tree/" + "a" * 40,
    ]
    files = committed_files(hub_http)
    assert set(files) == BACKBONE_FILES
    assert files["model.safetensors"] == (checkpoint / "model.safetensors").read_bytes()
    assert b"# my-r21d" in files["README.md"]
    (preupload,) = [r for r in hub_http if r["path"].endswith("/preupload/main")]
    sizes = {f["path"]: f["size"] for f in json.loads(preupload["body"])["files"]}
    assert sizes == {name: len(content) for name, content in files.items()}


def test_push_to_hub_of_a_random_backbone_has_no_preset_numbers(tiny_backbone, hub_http):
    model = tiny_backbone(PACE.backbone_type, **dict(PACE.backbone_kwargs))
    model.push_to_hub("alice/my-r21d", token="hf_test_token", commit_message="tiny test model", tags=["demo"])
    files = committed_files(hub_http)
    assert set(files) == BACKBONE_FILES
    card = files["README.md"].decode()
    assert "# my-r21d" in card and PAPER_NUMBER not in card and "- demo" in card
    (commit,) = [r for r in hub_http if r["path"].endswith("/commit/main")]
    assert json.loads(commit["body"].decode().splitlines()[0])["value"]["summary"] == "tiny test model"


def test_push_to_hub_of_a_pretraining_model_that_is_a_preset_adds_its_numbers(hub_http):
    model = pace_model(1.0)  # pace-r21d exactly: architecture, width 1 and 16 x 112 x 112 clips
    model.push_to_hub("alice/my-pace", token="hf_test_token")
    files = committed_files(hub_http)
    assert set(files) == BACKBONE_FILES | {PROCESSOR}
    card = files["README.md"].decode()
    assert PAPER_NUMBER in card and "Pace prediction" in card
    assert 'AutoModel.from_pretrained("alice/my-pace")' in card and "vssl/pace-r21d" not in card
    processor = VsslVideoProcessor(**json.loads(files[PROCESSOR]))
    assert processor == model.config.video_processor()
    # the input section is read from the processor that is uploaded
    assert "resized to 128 x 171, centre-cropped to 112 x 112" in card
    assert "license: apache-2.0" in card and "pipeline_tag: feature-extraction" in card


def test_a_narrower_pretraining_model_is_not_the_preset(tmp_path, hub_http):
    model = pace_model(0.125)  # the preset's method and clip, another width: the paper's numbers do not apply
    model.push_to_hub("alice/my-pace", token="hf_test_token")
    files = committed_files(hub_http)
    assert set(files) == BACKBONE_FILES | {PROCESSOR}
    card = files["README.md"].decode()
    assert PAPER_NUMBER not in card and "The papers' supplementary materials report no number" in card
    assert "width_multiplier=0.125" in card
    model.save_pretrained(tmp_path / "narrow")
    with pytest.raises(
        ValueError, match=r"is not preset 'pace-r21d': width_multiplier=0.125 \(preset: 1.0\)"
    ):
        stage_repository(tmp_path / "narrow", tmp_path / "repo", repo_id="alice/x", preset=PACE)


def test_push_cli_to_a_local_folder_with_measured_results(tmp_path, capsys):
    pace_model(0.125).save_pretrained(tmp_path / "ckpt")
    results = tmp_path / "results.json"
    measured = Result("finetune", "ucf101", "top-1", 55.5, "hf-vssl finetune (test)", "ucf101")
    results.write_text(json.dumps([asdict(measured)]))
    argv = [
        "push",
        str(tmp_path / "ckpt"),
        "--repo-id",
        "alice/my-pace",
        "--local-dir",
        str(tmp_path / "out"),
    ]
    assert main([*argv, "--results", str(results)]) == 0
    assert "staged alice/my-pace" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "out").iterdir()} == BACKBONE_FILES | {PROCESSOR}
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert [(r.metric_value, r.source_name, r.source_url) for r in card.data.eval_results] == [
        (55.5, "hf-vssl finetune (test)", "https://huggingface.co/alice/my-pace")
    ]
    # a preset that does not describe the checkpoint is a one-line error
    assert main([*argv[:-1], str(tmp_path / "out2"), "--preset", "pace-r21d"]) == 2
    assert "is not preset 'pace-r21d'" in capsys.readouterr().err


def test_push_refuses_a_pickle_only_checkpoint(checkpoint, tmp_path):
    (checkpoint / "model.safetensors").unlink()
    with pytest.raises(
        FileNotFoundError,
        match=r"no model.safetensors \(found only pickles: \['optimizer.pt', 'pytorch_model.bin'\]",
    ):
        stage_repository(checkpoint, tmp_path / "repo", repo_id="alice/x")
    assert main(["push", str(checkpoint), "--repo-id", "alice/x", "--local-dir", str(tmp_path / "o")]) == 2


def test_converted_weights_are_their_release_preset_with_its_license(tmp_path):
    from transformers import AutoModel

    path = tmp_path / "converted"
    AutoModel.from_config(PACE.backbone_config()).save_pretrained(path)  # full width, as a release
    (path / CONVERSION_RECORD).write_text(
        json.dumps(
            {
                "source": "pace",
                "architecture": "r21d",
                "source_file": "pace.pth.tar",
                "sha256": "0" * 64,
                "model_type": "vssl-r2plus1d",
                "method": None,
                "converted_tensors": 144,
                "dropped": {},
                "original_input": "BGR",
            }
        )
    )
    with pytest.raises(ValueError, match="converted from the 'pace' release"):
        stage_repository(path, tmp_path / "b", preset=get_preset("vicc-r21d"))
    staged = stage_repository(path, tmp_path / "c", repo_id="alice/pace")  # matched: pace-r21d
    assert CONVERSION_RECORD not in staged and PROCESSOR in staged
    card = ModelCard.load(tmp_path / "c" / "README.md")
    assert "expect the original network's input: BGR" in card.text and PAPER_NUMBER in card.text
    # video-pace has no LICENSE file: "other", linked to the release, and said in the card
    assert (card.data.license, card.data.license_link) == (
        "other",
        "https://github.com/laura-wang/video-pace",
    )
    assert "no LICENSE file" in card.text


def test_zoo_cards_carry_the_license_of_the_weights():
    from hf_vssl.hub.cards import WeightsOrigin, render_card

    def data(name: str, origin: WeightsOrigin | None = None):
        return render_card(get_preset(name), origin=origin).data

    assert (data("vicc-s3d").license, data("vicc-s3d").pipeline_tag) == ("cc-by-nc-4.0", "feature-extraction")
    assert data("mfo-r3d18").license == "other"  # the MFO release has no LICENSE file
    assert data("vicc-r3d").license == "apache-2.0"  # no release to convert: only weights trained here
    assert data("vicc-s3d", WeightsOrigin("trained")).license == "apache-2.0"
