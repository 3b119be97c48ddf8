"""Helpers for tests in server mode: one Chroma server, Redis, several API processes."""

import contextlib
import subprocess
import time

import redis

from bench.harness import free_port


@contextlib.contextmanager
def redis_server(home):
    """Debian's redis-server on a free loopback port, nothing persisted; yields its URL."""
    port = free_port()
    with (home / "redis.log").open("w") as log:
        process = subprocess.Popen(
            [
                *("redis-server", "--bind", "127.0.0.1", "--port", str(port)),
                *("--save", "", "--appendonly", "no", "--dir", str(home)),
            ],
            stdout=log,
            stderr=log,
        )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline and process.poll() is None, "redis did not start"
            time.sleep(0.05)
    client.close()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def server_mode(chroma_server, collection):
    """The settings that put a service on the shared Chroma server."""
    return {"chroma_host": "127.0.0.1", "chroma_port": chroma_server.port, "collection": collection}
