"""The deployment: app factory, routes, settings, CLI and the local model server.

Exports resolve lazily, so ``import app.settings`` (the CLI's first step) stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ChromaServer", "LocalModelServer", "Settings", "create_app"]

_WHERE = {
    "ChromaServer": "app.engines.chroma_server",
    "LocalModelServer": "app.engines.llama_server",
    "Settings": "app.settings",
    "create_app": "app.server",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'app' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_WHERE[name]), name)
