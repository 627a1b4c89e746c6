"""Loading by Hub id, offline, from a real Hugging Face cache layout, with and without hf_vssl installed.

The repository `vssl/vicc-s3d` is staged from a ViCC pretraining checkpoint exactly as `hf-vssl push`
would upload it, then placed into a temporary HF_HUB_CACHE the way `hf_hub_download` leaves it
(`models--vssl--vicc-s3d/blobs`, `snapshots/<commit>/` symlinks, `refs/main`). Fresh interpreters with
HF_HUB_OFFLINE=1 then call the exact user lines. Nothing of ours is patched.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from huggingface_hub import scan_cache_dir
from safetensors.torch import save_file

from hf_vssl.hub.push import stage_repository
from hf_vssl.hub.zoo import get_preset

REPO_ID = "vssl/vicc-s3d"
COMMIT = "4c1f0d6e9b2a7c3d5e8f1a2b3c4d5e6f7a8b9c0d"


def fill_hub_cache(cache: Path, repo_id: str, folder: Path, commit: str) -> Path:
    """Lay `folder` out as huggingface_hub's cache does after downloading `repo_id` at `commit`."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for path in sorted(folder.iterdir()):
        content = path.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        blob.write_bytes(content)
        (snapshot / path.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, tiny_backbone, random_bn) -> dict[str, Path]:
    """vicc-s3d staged from a ViCC pretraining checkpoint (backbone + projection + prototypes) into an
    offline cache, and the features its backbone computes."""
    from hf_vssl.methods.vicc import ViCCConfig, ViCCForPretraining

    root = tmp_path_factory.mktemp("hub")
    preset = get_preset(REPO_ID)
    backbone = tiny_backbone(preset.backbone_type, **dict(preset.backbone_kwargs)).config.to_dict()
    torch.manual_seed(0)
    model = random_bn(
        ViCCForPretraining(ViCCConfig(backbone_config=backbone, num_prototypes=30, queue_size=8))
    )
    model.eval().save_pretrained(root / "checkpoint")
    stage_repository(root / "checkpoint", root / "repo", repo_id=REPO_ID)  # width 1/8: not the preset's model
    fill_hub_cache(root / "cache", REPO_ID, root / "repo", COMMIT)
    clips = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        features = model.backbone(clips).pooler_output
    save_file({"clips": clips, "features": features}, root / "expected.safetensors")
    return {"root": root, "cache": root / "cache", "expected": root / "expected.safetensors"}


def run_offline(script: str, hub_cache: dict[str, Path], *, hide_hf_vssl: bool) -> str:
    """Run `script` in a fresh interpreter with HF_HUB_OFFLINE=1 on the temporary cache."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(hub_cache["cache"]),
        "HF_HOME": str(hub_cache["root"] / "hf-home"),
        "TRANSFORMERS_VERBOSITY": "error",
    }
    prelude = ""
    if hide_hf_vssl:
        # `-I` drops the working directory and PYTHON* variables; the editable install's path entry
        # (the folder holding hf_vssl/) is removed before anything is imported
        prelude = textwrap.dedent(
            """
            import sys
            from pathlib import Path
            sys.path[:] = [p for p in sys.path if not (Path(p) / "hf_vssl").exists()]
            try:
                import hf_vssl
            except ImportError:
                pass
            else:
                raise SystemExit("hf_vssl is still importable")
            """
        )
    result = subprocess.run(
        [sys.executable, "-I", "-c", prelude + textwrap.dedent(script), str(hub_cache["expected"])],
        capture_output=True,
        text=True,
        env=env,
        cwd=hub_cache["root"],
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_cache_layout_is_the_hub_one(hub_cache):
    info = scan_cache_dir(hub_cache["cache"])
    (repo,) = info.repos
    assert repo.repo_id == REPO_ID and repo.repo_type == "model"
    (revision,) = repo.revisions
    assert revision.commit_hash == COMMIT and revision.refs == frozenset({"main"})
    assert {"config.json", "model.safetensors", "README.md"} <= {f.file_name for f in revision.files}


def test_auto_model_from_hub_id_with_hf_vssl(hub_cache):
    out = run_offline(
        f"""
        import sys, torch
        from safetensors.torch import load_file
        import hf_vssl
        from transformers import AutoModel, AutoModelForVideoClassification

        expected = load_file(sys.argv[1])
        backbone = AutoModel.from_pretrained("{REPO_ID}")
        assert type(backbone).__module__.startswith("hf_vssl."), type(backbone).__module__
        with torch.no_grad():
            assert torch.equal(backbone.eval()(expected["clips"]).pooler_output, expected["features"])

        model = AutoModelForVideoClassification.from_pretrained("{REPO_ID}", num_labels=101)
        assert model.classifier.out_features == 101
        with torch.no_grad():
            assert torch.equal(model.eval().backbone(expected["clips"]).pooler_output, expected["features"])
        model.train()
        loss = model(expected["clips"], labels=torch.tensor([3, 100])).loss
        loss.backward()
        assert all(p.grad is not None for p in model.backbone.parameters())  # a full finetune
        print(type(backbone).__name__, type(model).__name__)
        """,
        hub_cache,
        hide_hf_vssl=False,
    )
    assert out.split() == ["S3DModel", "S3DForVideoClassification"]


def test_trust_remote_code_without_hf_vssl(hub_cache):
    out = run_offline(
        f"""
        import sys, torch
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoModelForVideoClassification
        from transformers.dynamic_module_utils import get_class_from_dynamic_module

        expected = load_file(sys.argv[1])
        backbone = AutoModel.from_pretrained("{REPO_ID}", trust_remote_code=True)
        assert type(backbone).__module__.startswith("transformers_modules."), type(backbone).__module__
        with torch.no_grad():
            assert torch.equal(backbone.eval()(expected["clips"]).pooler_output, expected["features"])
        model = AutoModelForVideoClassification.from_pretrained("{REPO_ID}", trust_remote_code=True, num_labels=101)
        assert model(expected["clips"]).logits.shape == (2, 101)
        # AutoBackbone.from_pretrained first asks the Hub whether the repo exists (transformers 5.24), which
        # fails offline; past that it resolves `auto_map` with this same remote-code loader
        backbone_class = get_class_from_dynamic_module(backbone.config.auto_map["AutoBackbone"], "{REPO_ID}")
        maps = backbone_class.from_pretrained("{REPO_ID}", out_indices=[-1]).eval()(expected["clips"]).feature_maps
        assert torch.equal(maps[0].mean(dim=(2, 3, 4)), expected["features"])
        print(type(backbone).__name__, backbone_class.__name__)
        """,
        hub_cache,
        hide_hf_vssl=True,
    )
    assert out.split() == ["S3DModel", "S3DBackbone"]
