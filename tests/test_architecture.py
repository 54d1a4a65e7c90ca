"""The layers of docs/architecture.md: each imports only downward, and torch stays in the runner."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "scalefit"

# layer -> scalefit subpackages/modules it must never import (anywhere in the file)
FORBIDDEN = {
    "core": ("methods", "studies", "report", "runner", "cli", "api", "loop"),
    "methods": ("studies", "report", "runner", "cli", "api", "loop"),
    "studies": ("report", "runner", "cli", "api", "loop"),
    "report": ("cli", "api", "loop", "runner.sweep", "runner.train", "runner.model"),
    "runner": ("core", "methods", "studies", "cli", "api", "loop"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_downward(layer):
    bad = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in _imports(path):
            if any(name == f"scalefit.{f}" or name.startswith(f"scalefit.{f}.")
                   for f in FORBIDDEN[layer]):
                bad.append(f"{path.relative_to(ROOT.parent)} imports {name}")
    assert not bad, "\n".join(bad)


def test_torch_only_in_the_runner():
    analysis = [p for p in ROOT.rglob("*.py") if "runner" not in p.relative_to(ROOT).parts]
    assert len(analysis) > 30
    bad = [str(p) for p in analysis if any(n.split(".")[0] == "torch" for n in _imports(p))
           and p.name != "common.py"]  # cli/common.py only probes for torch to say how to install it
    assert not bad
