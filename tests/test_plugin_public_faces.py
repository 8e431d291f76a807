"""The demo composes other plugins only through what their packages export (``__all__``)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import venclient.plugins.demo as demo_package

DEMO_DIR = Path(demo_package.__file__).parent


def _plugin_imports() -> list[tuple[str, str, str]]:
    """(file, module, name) of every ``from venclient.plugins.X… import name`` of another plugin in the demo."""
    found = []
    for path in sorted(DEMO_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("venclient.plugins."):
                if not node.module.startswith("venclient.plugins.demo"):
                    found.extend((path.name, node.module, alias.name) for alias in node.names)
    return found


def test_the_demo_imports_only_exported_names_of_plugin_packages():
    imports = _plugin_imports()
    assert {module for _, module, _ in imports} == {"venclient.plugins.h5_simulator", "venclient.plugins.samples",
                                                    "venclient.plugins.local_vtn"}
    for file, module, name in imports:
        assert module.count(".") == 2, f"{file} reaches into {module}"
        assert name in importlib.import_module(module).__all__, f"{file} uses {module}.{name}, not exported"


def test_every_exported_name_resolves():
    for module in ("venclient.plugins.h5_simulator", "venclient.plugins.samples", "venclient.plugins.local_vtn"):
        package = importlib.import_module(module)
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{module}.{name}"
