import importlib

import pytest


@pytest.mark.parametrize("package", ["app", "chains"])
def test_package_all_names_resolve(package):
    module = importlib.import_module(package)
    assert module.__all__, f"{package} declares no public surface"
    for name in module.__all__:
        assert hasattr(module, name), f"{package}.__all__ names missing {name!r}"


def test_chains_never_import_app():
    import ast
    from pathlib import Path

    for path in Path("chains").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("app"), f"{path} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("app") for a in node.names), path
