import importlib

import pytest


@pytest.mark.parametrize("package", ["app", "chains", "callbacks"])
def test_package_all_names_resolve(package):
    module = importlib.import_module(package)
    assert module.__all__, f"{package} declares no public surface"
    for name in module.__all__:
        assert hasattr(module, name), f"{package}.__all__ names missing {name!r}"


def _our_imports(package: str) -> set[str]:
    import ast
    from pathlib import Path

    found = set()
    for path in Path(package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            found |= {n for n in names if n.split(".")[0] in ("app", "chains", "callbacks")}
    return found


def test_chains_import_neither_callbacks_nor_app():
    found = {m.split(".")[0] for m in _our_imports("chains")}
    assert found == {"chains"}


def test_callbacks_import_chains_but_never_app():
    found = {m.split(".")[0] for m in _our_imports("callbacks")}
    assert found == {"callbacks", "chains"}


_ROOMS_MAY_IMPORT = {
    "engines": {"settings"},
    "streams": set(),
    "protocols": set(),
    "sample_docs": set(),
    "middleware": {"streams"},
    "routes": {"auth", "deps", "mcp_server", "services", "settings", "protocols", "streams"},
    "auth": set(),
    "evaluation": set(),
}
"""Which other parts of ``app`` each room imports: the processes, the streams, the
protocols, the key check and the evaluation know nothing of HTTP routes, and no room imports the
factory or the CLI."""


@pytest.mark.parametrize("room", sorted(_ROOMS_MAY_IMPORT))
def test_app_room_imports_only_the_rooms_below_it(room):
    found = {m.split(".")[1] for m in _our_imports(f"app/{room}") if m.startswith("app.")}
    assert found - {room} <= _ROOMS_MAY_IMPORT[room]


def test_event_models_import_nothing_of_ours():
    import ast
    from pathlib import Path

    tree = ast.parse(Path("chains/events.py").read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in modules if m and m.split(".")[0] in ("app", "chains", "callbacks")}


@pytest.mark.parametrize(
    "module",
    ["callbacks", "callbacks.queue_handler", "chains", "chains.events", "chains.errors", "app.cli"],
)
def test_module_imports_first_in_a_fresh_interpreter(module):
    """Regression: importing callbacks first hit a chains <-> callbacks import cycle."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
