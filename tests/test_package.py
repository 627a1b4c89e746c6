"""`import hf_vssl`: the Auto classes know every backbone at once, and every public name loads on use."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import hf_vssl

SRC = Path(hf_vssl.__file__).parents[1]


def test_import_registers_the_backbones_and_pipelines(tmp_path):
    """The README's first lines, in a fresh interpreter: no hf_vssl name is touched before the Auto
    calls. The script is named `hf-vssl`, the console script's name (registration once depended on it),
    and transformers' notice of the replaced video-classification pipeline stays quiet."""
    script = tmp_path / "hf-vssl"
    script.write_text(
        textwrap.dedent(
            """
            import hf_vssl
            from transformers import AutoBackbone, AutoConfig, AutoModel
            from transformers.pipelines import PIPELINE_REGISTRY

            config = AutoConfig.for_model("vssl-r3d", width_multiplier=0.125)
            print(type(AutoModel.from_config(config)).__name__, type(AutoBackbone.from_config(config)).__name__)
            for task in ("video-classification", "video-feature-extraction"):
                print(PIPELINE_REGISTRY.check_task(task)[1]["impl"].__name__)
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "R3DModel",
        "R3DBackbone",
        "VsslVideoClassificationPipeline",
        "VsslVideoFeatureExtractionPipeline",
    ]
    assert "already registered" not in result.stderr


def test_every_public_name_resolves():
    for name in hf_vssl.__all__:
        assert getattr(hf_vssl, name) is not None, name
    assert set(hf_vssl.__all__) <= set(dir(hf_vssl))
    assert hf_vssl.S3DBackbone is hf_vssl.models.s3d.S3DBackbone
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = hf_vssl.no_such_name


def test_package_data_names_every_file_that_package_discovery_misses():
    """setuptools ships the .py files of folders with an __init__.py; every other file the package reads (the
    local `evaluate` modules, card templates) ships only when pyproject's package-data names it.
    `scripts/check_wheel.sh` proves the same on a built wheel, slowly."""
    repo = Path(__file__).parents[1]
    setuptools = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = setuptools["package-data"]["hf_vssl"]
    root = repo / "src" / "hf_vssl"
    files = [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    data = [
        p.relative_to(root) for p in files if p.suffix != ".py" or not (p.parent / "__init__.py").is_file()
    ]
    assert any(
        path.match("evaluation/metrics/*/*.py") for path in data
    )  # the evaluate modules are among them
    unshipped = [str(path) for path in data if not any(path.match(glob) for glob in globs)]
    assert not unshipped, f"add these to [tool.setuptools.package-data] in pyproject.toml: {unshipped}"
