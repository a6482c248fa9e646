"""Imports point one way: web -> campaigns/scheduling -> audiences -> pipeline/queueing -> preferences
-> catalog/providers/rendering -> inbox -> config/db; observability (metrics, log context) is a leaf
everything may use, and security (passwords, keys, sign-in limits) sits beside the web."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "appliance"

# package -> packages it must never import
FORBIDDEN = {
    "config": {"web", "pipeline", "queueing", "providers", "db", "catalog", "rendering", "inbox"},
    "db": {"web", "pipeline", "queueing", "providers", "catalog", "inbox"},
    "providers": {"web", "pipeline", "queueing"},
    "rendering": {"web", "pipeline", "queueing", "providers", "db"},
    "pipeline": {"web", "campaigns", "scheduling"},
    "queueing": {"web", "scheduling"},
    "preferences": {"web", "pipeline", "queueing", "campaigns", "scheduling"},
    "tracking": {"web", "pipeline", "queueing", "campaigns", "scheduling", "catalog"},
    "inbox": {"web", "pipeline", "queueing", "campaigns", "scheduling", "catalog", "providers"}
    | {"preferences", "tracking", "audiences"},
    "audiences": {"web", "queueing", "campaigns", "scheduling"},
    "campaigns": {"web"},
    "analytics": {"web", "scheduling"},
    "scheduling": {"web"},
    "security": {"web", "pipeline", "queueing", "campaigns", "scheduling", "audiences", "providers", "db"},
    "observability": {
        *("web", "pipeline", "queueing", "campaigns", "scheduling", "audiences", "preferences"),
        *("providers", "tracking", "catalog", "rendering", "config", "db", "resilience", "security"),
    },
}


def appliance_imports(path: Path) -> set[str]:
    """The top-level appliance subpackages a module imports, absolute or relative."""
    module_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_parts[: len(module_parts) - node.level]
                target = [*base, *(node.module.split(".") if node.module else [])]
            else:
                target = (node.module or "").split(".")
            if target[:1] == ["appliance"] and len(target) > 1:
                found.add(target[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "appliance" and len(parts) > 1:
                    found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones(package: str) -> None:
    root = PACKAGE / package
    modules = sorted(root.rglob("*.py")) if root.is_dir() else [PACKAGE / f"{package}.py"]
    violations = {
        str(module.relative_to(PACKAGE)): sorted(appliance_imports(module) & FORBIDDEN[package])
        for module in modules
    }
    assert {module: bad for module, bad in violations.items() if bad} == {}


def test_nothing_outside_web_imports_web() -> None:
    outside = [
        p for p in PACKAGE.rglob("*.py") if "web" not in p.relative_to(PACKAGE).parts and p.name != "cli.py"
    ]
    assert [str(p.relative_to(PACKAGE)) for p in outside if "web" in appliance_imports(p)] == []
