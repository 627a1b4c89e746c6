"""`hf-vssl push` / `model.push_to_hub`: the staged file set, and the upload planned by huggingface_hub.

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
from hf_vssl.hub.convert import CONVERSION_RECORD
from hf_vssl.hub.push import PICKLE_SUFFIXES, push_checkpoint, push_model, stage_repository
from hf_vssl.hub.zoo import Result, get_preset

PRESET = get_preset("vicc-r21d")
CODE_FILES = {"configuration_r2plus1d.py", "modeling_r2plus1d.py", "modeling_utils.py", "typed_fields.py"}
REPO_FILES = {"config.json", "model.safetensors", "video_preprocessor_config.json", "README.md", *CODE_FILES}


@pytest.fixture
def checkpoint(tmp_path, tiny_backbone):
    """A saved vicc-r21d backbone, with the clutter a training run leaves beside it."""
    path = tmp_path / "checkpoint"
    tiny_backbone(PRESET.backbone_type, **dict(PRESET.backbone_kwargs)).save_pretrained(path)
    torch.save({"step": 3, "momentum_buffer": torch.zeros(3)}, path / "optimizer.pt")
    torch.save({"w": torch.zeros(2)}, path / "pytorch_model.bin")
    (path / "trainer_state.json").write_text("{}")
    return path


@pytest.fixture
def hub_http():
    """Route huggingface_hub's HTTP client to a fake Hub; yields the list of recorded requests."""
    requests: list[dict] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        requests.append({"method": request.method, "path": path, "body": request.content})
        if path == "/api/repos/create":
            return httpx2.Response(
                200, json={"url": "https://huggingface.co/vssl/vicc-r21d", "name": "vssl/vicc-r21d"}
            )
        if path == "/api/validate-yaml":
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if path.endswith("/preupload/main"):
            files = json.loads(request.content)["files"]
            modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
            return httpx2.Response(200, json={"files": modes, "commitOid": "0" * 40})
        if path.endswith("/commit/main"):
            url = "https://huggingface.co/vssl/vicc-r21d/commit/" + "a" * 40
            return httpx2.Response(
                200, json={"commitUrl": url, "commitOid": "a" * 40, "pullRequestUrl": None}
            )
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


def test_stage_repository_writes_exactly_the_repository_files(checkpoint, tmp_path):
    staged = stage_repository(checkpoint, tmp_path / "repo", preset=PRESET)
    assert set(staged) == REPO_FILES
    assert not any(name.endswith(PICKLE_SUFFIXES) for name in staged)
    config = json.loads((tmp_path / "repo" / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_r2plus1d.R2Plus1DModel"
    assert (tmp_path / "repo" / "model.safetensors").read_bytes() == (
        checkpoint / "model.safetensors"
    ).read_bytes()
    processor = json.loads((tmp_path / "repo" / "video_preprocessor_config.json").read_text())
    assert processor["num_frames"] == PRESET.num_frames
    card = ModelCard.load(tmp_path / "repo" / "README.md")
    assert card.data.model_name == "vicc-r21d"
    with pytest.raises(ValueError, match="is not empty"):
        stage_repository(checkpoint, tmp_path / "repo", preset=PRESET)


def test_push_uploads_the_staged_files_through_huggingface_hub(checkpoint, hub_http):
    commit = push_checkpoint(checkpoint, "vssl/vicc-r21d", token="hf_test_token")
    assert commit.commit_url.endswith("a" * 40)
    assert [
        r["path"]
        for r in hub_http
        if r["path"].startswith("/api/models") or r["path"].startswith("/api/repos")
    ] == [
        "/api/repos/create",
        "/api/models/vssl/vicc-r21d/preupload/main",
        "/api/models/vssl/vicc-r21d/commit/main",
    ]
    files = committed_files(hub_http)
    assert set(files) == REPO_FILES
    assert files["model.safetensors"] == (checkpoint / "model.safetensors").read_bytes()
    assert b"# vicc-r21d" in files["README.md"]
    (preupload,) = [r for r in hub_http if r["path"].endswith("/preupload/main")]
    sizes = {f["path"]: f["size"] for f in json.loads(preupload["body"])["files"]}
    assert sizes == {name: len(content) for name, content in files.items()}


def test_push_model_uploads_the_same_files(tiny_backbone, hub_http):
    model = tiny_backbone(PRESET.backbone_type, **dict(PRESET.backbone_kwargs))
    push_model(model, "vssl/vicc-r21d", token="hf_test_token", commit_message="tiny test model")
    files = committed_files(hub_http)
    assert set(files) == REPO_FILES
    (commit,) = [r for r in hub_http if r["path"].endswith("/commit/main")]
    assert json.loads(commit["body"].decode().splitlines()[0])["value"]["summary"] == "tiny test model"


def test_push_cli_to_a_local_folder_with_measured_results(checkpoint, tmp_path, capsys):
    results = tmp_path / "results.json"
    measured = Result("finetune", "ucf101", "top-1", 55.5, "hf-vssl finetune (test)", "ucf101")
    results.write_text(json.dumps([asdict(measured)]))
    argv = ["push", str(checkpoint), "--repo-id", "vssl/vicc-r21d", "--local-dir", str(tmp_path / "out")]
    assert main([*argv, "--results", str(results)]) == 0
    assert "staged vssl/vicc-r21d" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "out").iterdir()} == REPO_FILES
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert [(r.metric_value, r.source_name) for r in card.data.eval_results] == [
        (55.5, "hf-vssl finetune (test)")
    ]


def test_push_refuses_a_pickle_only_checkpoint(checkpoint, tmp_path):
    (checkpoint / "model.safetensors").unlink()
    with pytest.raises(
        FileNotFoundError,
        match=r"no model.safetensors \(found only pickles: \['optimizer.pt', 'pytorch_model.bin'\]",
    ):
        stage_repository(checkpoint, tmp_path / "repo", preset=PRESET)
    assert (
        main(["push", str(checkpoint), "--repo-id", "vssl/vicc-r21d", "--local-dir", str(tmp_path / "o")])
        == 2
    )


def test_push_refuses_another_preset_or_release(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="preset 'sdc-r21d' is"):
        stage_repository(checkpoint, tmp_path / "a", preset=get_preset("sdc-r21d"))
    (checkpoint / CONVERSION_RECORD).write_text(
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
    with pytest.raises(ValueError, match="converted from the 'pace' release, but preset 'vicc-r21d'"):
        stage_repository(checkpoint, tmp_path / "b", preset=PRESET)
    staged = stage_repository(checkpoint, tmp_path / "c", preset=get_preset("pace-r21d"))
    assert CONVERSION_RECORD not in staged
    assert "expect the original network's input: BGR" in (tmp_path / "c" / "README.md").read_text()
