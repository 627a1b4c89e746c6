"""The dependency direction of the package: a layer imports only the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import hf_vssl

PACKAGE = Path(hf_vssl.__file__).parent
# each package and the hf_vssl packages it must never import (models/ sits at the bottom)
FORBIDDEN = {
    "models": {"hub", "methods", "training", "evaluation", "cli", "data"},
    "nn": {"hub", "methods", "training", "evaluation", "cli"},
    "optim": {"hub", "methods", "training", "evaluation", "cli"},
    "data": {"hub", "methods", "training", "evaluation", "cli"},
    "methods": {"hub", "training", "evaluation", "cli"},
}


def _imported_packages(path: Path) -> set[str]:
    """First-level hf_vssl packages a module imports (absolute or relative, at any depth of the file)."""
    module_parts = path.relative_to(PACKAGE).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = list(module_parts[: len(module_parts) - node.level])
                parts = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.startswith("hf_vssl."):
                parts = node.module.split(".")[1:]
            else:
                continue
            if parts:
                found.add(parts[0])
            else:  # `from .. import models`
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("hf_vssl."))
    return found


def test_no_layer_imports_a_layer_above_it():
    offences = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((PACKAGE / package).rglob("*.py")):
            bad = _imported_packages(path) & forbidden
            if bad:
                offences.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert not offences, offences


def test_the_check_sees_relative_imports():
    # the edge issue 8 removed: models/modeling_utils.py imported hf_vssl.hub.push
    assert _imported_packages(PACKAGE / "training" / "export.py") >= {"methods", "hub"}
