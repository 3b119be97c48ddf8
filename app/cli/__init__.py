"""The ``streaming-rag`` command: serve, llm, ingest, ask (one module per command)."""

from app.cli.main import main

__all__ = ["main"]
