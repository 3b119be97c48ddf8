"""Helpers for tests in server mode: one Chroma server, Redis, several API processes."""

import contextlib

from sse_helpers import start_serve

from bench.harness import redis_server

__all__ = ["redis_server", "serve_workers", "server_mode"]


def server_mode(chroma_server, collection):
    """The settings that put a service on the shared Chroma server."""
    return {"chroma_host": "127.0.0.1", "chroma_port": chroma_server.port, "collection": collection}


@contextlib.contextmanager
def serve_workers(tmp_path_factory, name, **env):
    """Two ``streaming-rag serve`` processes with the settings ``env``; yields their URLs."""
    started = [start_serve(tmp_path_factory.mktemp(f"{name}{n}"), **env) for n in (1, 2)]
    try:
        yield [url for _, url in started]
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=30)
