"""`hf-vssl env`: versions of the stack and the devices this machine offers (for bug reports)."""

from __future__ import annotations

import argparse
import platform
from importlib.metadata import PackageNotFoundError, version

PACKAGES = (
    "hf-vssl",
    "torch",
    "transformers",
    "datasets",
    "accelerate",
    "huggingface-hub",
    "safetensors",
    "evaluate",
    "av",
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("env", help="print versions and available devices")
    parser.set_defaults(func=run)


def describe_environment() -> dict[str, str]:
    import torch

    info = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = "not installed"
    info["cuda"] = (
        ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) or "none"
    )
    info["bf16 (cuda)"] = str(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    info["cpu threads"] = str(torch.get_num_threads())
    return info


def run(args: argparse.Namespace) -> int:
    for key, value in describe_environment().items():
        print(f"{key:>16}: {value}")
    return 0
