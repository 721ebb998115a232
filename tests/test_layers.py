"""The packages form a stack: agents < rewards < arenas < runs < the package root and CLI.

A module may import its own layer or lower ones, at module level or inside a function
(an import inside a function is still a dependency); only imports under
``if TYPE_CHECKING:`` are exempt, since they never run. The light layers must not load
torch: ``import sparring.arenas`` is what every arena author does first.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"agents": 0, "rewards": 1, "arenas": 2, "runs": 3, "sparring": 4}
FOLDERS = {"agents": "agents", "rewards": "rewards", "arenas": "arenas", "runs": "runs", "sparring": "sparring"}


def _layer_of_import(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "sparring":
        return None
    if len(parts) == 1 or parts[1] not in ("agents", "rewards", "arenas", "runs"):
        return "sparring"
    return parts[1]


def _runtime_imports(tree: ast.AST) -> list[tuple[int, str]]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in ast.walk(node):
                skip.add(id(child))
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return out


def _violations() -> list[str]:
    found = []
    for layer, folder in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for line, name in _runtime_imports(tree):
                target = _layer_of_import(name)
                if target is None or LAYERS[target] <= LAYERS[layer]:
                    continue
                # ``from sparring.agents import x`` names the module sparring.agents.x: fine.
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name} ({layer} -> {target})")
    return found


def test_no_upward_imports() -> None:
    assert _violations() == []


def test_checker_sees_an_upward_import(tmp_path: Path) -> None:
    tree = ast.parse("def f():\n    from sparring.runs.storage.store import Store\n")
    assert [n for _, n in _runtime_imports(tree)] == ["sparring.runs.storage.store.Store"]
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sparring.runs import x\n")
    assert [n for _, n in _runtime_imports(tree) if n.startswith("sparring")] == []


@pytest.mark.parametrize("module", ["sparring", "sparring.arenas", "sparring.rewards", "sparring.agents"])
def test_light_layers_do_not_import_torch(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"import {module} loaded {out.strip()}"
