"""Checkpoints that load without hf-vssl: `auto_map` in config.json + the model's code as flat files.

transformers' remote-code loader (`trust_remote_code=True`) downloads the files named by `auto_map`
and every file they import relatively, all from the repository root. So the backbone's
configuration and modeling modules, and the hf_vssl modules they import, are copied next to
config.json with their relative imports rewritten to single-dot imports of the flat copies. The
copies are generated from the installed sources at save time, so they never drift from the package.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

from transformers import PreTrainedConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_BACKBONE_MAPPING,
    MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING,
    MODEL_MAPPING,
)

PACKAGE = "hf_vssl"
_IMPORT_HEAD = re.compile(r"^from\s+[.\w]+\s+import", re.DOTALL)


def auto_classes(model_type: str) -> dict[str, type]:
    """The classes `auto_map` names for a registered hf_vssl backbone type."""
    from .. import models  # noqa: F401  (registers the model types)

    if model_type not in CONFIG_MAPPING:
        raise ValueError(f"model_type '{model_type}' is not a registered hf_vssl backbone")
    config_class = CONFIG_MAPPING[model_type]
    return {
        "AutoConfig": config_class,
        "AutoModel": MODEL_MAPPING[config_class],
        "AutoModelForVideoClassification": MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING[config_class],
        "AutoBackbone": MODEL_FOR_BACKBONE_MAPPING[config_class],
    }


def flat_sources(module_names: list[str]) -> dict[str, str]:
    """{file name: source} of `module_names` and every hf_vssl module they import, flattened.

    Each module becomes `<last name component>.py`; its imports of other hf_vssl modules (relative or
    absolute) become `from .<flat name> import ...`. Imports inside `try` blocks are optional (the
    convention transformers' remote-code import check follows too) and stay as they are. Two different
    modules with one flat name are an error.
    """
    files: dict[str, str] = {}
    owners: dict[str, str] = {}
    pending = list(module_names)
    while pending:
        name = pending.pop()
        flat = _flat_name(name)
        if flat in owners:
            if owners[flat] != name:
                raise ValueError(f"cannot flatten {name} and {owners[flat]}: both would become {flat}.py")
            continue
        owners[flat] = name
        source, imported = _rewrite_imports(name)
        files[f"{flat}.py"] = source
        pending.extend(imported)
    return files


def _flat_name(module_name: str) -> str:
    return module_name.rsplit(".", 1)[-1]


def _module_file(module_name: str) -> Path:
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise ValueError(f"cannot find the source of {module_name}")
    return Path(spec.origin)


def _rewrite_imports(module_name: str) -> tuple[str, list[str]]:
    """The module's source with its hf_vssl imports made flat, and the hf_vssl modules it imports."""
    path = _module_file(module_name)
    source = path.read_text()
    package = module_name if path.name == "__init__.py" else module_name.rpartition(".")[0]
    lines = source.splitlines(keepends=True)
    imported: list[str] = []
    tree = ast.parse(source)
    optional = {
        id(node) for block in ast.walk(tree) if isinstance(block, ast.Try) for node in ast.walk(block)
    }
    # edit from the bottom so that earlier line numbers stay valid
    for node in sorted(ast.walk(tree), key=lambda n: getattr(n, "lineno", 0), reverse=True):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == PACKAGE for a in node.names):
            raise ValueError(
                f"{path}:{node.lineno}: `import {PACKAGE}...` cannot be flattened; use `from ... import` there"
            )
        if not isinstance(node, ast.ImportFrom):
            continue
        target = (
            importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            if node.level
            else None
        )
        target = target or node.module or ""
        if target.split(".")[0] != PACKAGE:
            continue
        if node.module is None or importlib.util.find_spec(target) is None:
            raise ValueError(f"{path}:{node.lineno}: import from {target} must name a module to be flattened")
        imported.append(target)
        segment = "".join(lines[node.lineno - 1 : node.end_lineno])
        rewritten = _IMPORT_HEAD.sub(f"from .{_flat_name(target)} import", segment.lstrip(), count=1)
        indent = segment[: len(segment) - len(segment.lstrip())]
        lines[node.lineno - 1 : node.end_lineno] = [indent + rewritten]
    return "".join(lines), imported


def add_remote_code(directory: str | Path) -> dict[str, str]:
    """Write the flat code files into a saved checkpoint and its `auto_map` into config.json.

    Returns the `auto_map`. The checkpoint's config must be a registered hf_vssl backbone (a
    pretraining checkpoint's config.json is its backbone's, so both kinds work).
    """
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} does not exist; save the model with save_pretrained first")
    config = json.loads(config_path.read_text())
    classes = auto_classes(config.get("model_type", ""))
    for filename, source in flat_sources(sorted({cls.__module__ for cls in classes.values()})).items():
        (directory / filename).write_text(source)
    auto_map = {auto: f"{_flat_name(cls.__module__)}.{cls.__name__}" for auto, cls in classes.items()}
    config["auto_map"] = auto_map
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return auto_map


def remote_code_files(config: PreTrainedConfig) -> list[str]:
    """The file names `add_remote_code` writes for this config's model type."""
    classes = auto_classes(config.model_type)
    return sorted(flat_sources(sorted({cls.__module__ for cls in classes.values()})))


__all__ = ["add_remote_code", "auto_classes", "flat_sources", "remote_code_files"]
