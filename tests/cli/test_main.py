"""The `hf-vssl` entry point itself (`hf_vssl_cli`): the command list, `--version`, and a `--help` that
answers at once.

The console script is run as pip writes it (a file named `hf-vssl` that imports the `[project.scripts]`
target and calls it), in a fresh interpreter, so the imports it pays are the ones a user pays.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

import hf_vssl
from hf_vssl_cli import COMMANDS, main

ROOT = Path(__file__).parents[2]
SRC = Path(hf_vssl.__file__).parents[1]
HELP_SECONDS = 5.0  # generous: measured 0.8-1.1 s at load 14 on 2 cores (the goal is < 2 s)
# reported by the script at exit; importing hf_vssl registers the models (hf_vssl.models) with transformers
REPORTED_MODULES = ("torch", "transformers", "datasets", "accelerate", "av", "hf_vssl", "hf_vssl.models")


def _console_script(tmp_path: Path) -> Path:
    """The wrapper pip generates for `[project.scripts] hf-vssl`, reporting which `REPORTED_MODULES` it loaded."""
    target = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["hf-vssl"]
    module, function = target.split(":")
    script = tmp_path / "hf-vssl"
    script.write_text(
        "import atexit, sys\n"
        f"atexit.register(lambda: print('loaded:', *[m for m in {REPORTED_MODULES!r} if m in sys.modules], file=sys.stderr))\n"
        f"from {module} import {function}\n"
        f"sys.exit({function}())\n"
    )
    return script


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(_console_script(tmp_path)), *args], capture_output=True, text=True, env=env
    )
    return result, time.perf_counter() - start


def test_help_lists_every_command_without_importing_hf_vssl_or_torch(tmp_path):
    result, seconds = _run(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    for name, (_, summary) in COMMANDS.items():
        assert name in result.stdout and summary.split()[0] in result.stdout
    assert result.stderr.strip() == "loaded:"  # none of them
    assert seconds < HELP_SECONDS


def test_version_prints_the_package_version(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hf-vssl {hf_vssl.__version__}"
    result, _ = _run(tmp_path, "--version")
    assert result.stdout.strip() == f"hf-vssl {hf_vssl.__version__}"


def test_a_command_has_its_own_help(tmp_path):
    result, _ = _run(tmp_path, "synth", "--help")
    assert result.returncode == 0 and "usage: hf-vssl synth" in result.stdout and "--preset" in result.stdout


def test_a_command_runs_with_the_models_registered(tmp_path):
    """A command imports hf_vssl, whose import registers the models (hf_vssl/__init__.py)."""
    result, _ = _run(tmp_path, "env")
    assert result.returncode == 0, result.stderr
    assert "hf_vssl.models" in result.stderr.splitlines()[-1].split()


def test_command_list_matches_the_command_modules():
    """Every module with `add_parser` is listed, under its own name and help line."""
    modules = sorted(
        p.stem for p in (SRC / "hf_vssl" / "cli").glob("*.py") if "def add_parser" in p.read_text()
    )
    assert sorted(module for module, _ in COMMANDS.values()) == modules
    subparsers = argparse.ArgumentParser().add_subparsers()
    for module, _ in COMMANDS.values():
        importlib.import_module(f"hf_vssl.cli.{module}").add_parser(subparsers)
    listed = {action.dest: action.help for action in subparsers._choices_actions}
    assert listed == {name: summary for name, (_, summary) in COMMANDS.items()}


def test_unknown_command_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'no-such-command'" in capsys.readouterr().err
