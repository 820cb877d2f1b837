"""Imports flow one way: chainmine.library <- chainmine.miner <- chainmine.dashboards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# folder -> the layers its modules must never import
FORBIDDEN = {"library": {"chainmine.miner", "chainmine.dashboards"}, "miner": {"chainmine.dashboards"}}


def _imported_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return {".".join(n.split(".")[:2]) for n in names if n.startswith("chainmine.")}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layer_never_imports_higher_layer(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imported_layers(path) & FORBIDDEN[package]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []


def test_layer_check_catches_a_violation(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("import chainmine.miner.store\nfrom chainmine.dashboards import app\n")
    assert _imported_layers(bad) == {"chainmine.miner", "chainmine.dashboards"}
