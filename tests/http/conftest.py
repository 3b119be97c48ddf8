"""Real processes for server mode, one set per test module: a ``chroma run`` server,
Redis, a scripted model server to pace answers, and two ``streaming-rag serve`` workers."""

import pytest
from server_mode import redis_server, serve_workers, server_mode

from app.engines.chroma_server import ChromaServer
from bench.harness import free_port
from bench.scripted_llm import ScriptedLLM


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("chroma-server")
    with ChromaServer(path=home / "data", port=free_port(), log_path=home / "chroma.log") as server:
        yield server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="module")
def pacer(serve):
    """The scripted model server the workers use, so an answer can be cut mid-way."""
    record = ScriptedLLM()
    with serve(record.app()) as server:
        record.url = server.url
        yield record


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory, chroma_server, redis_url, pacer):
    """Two `streaming-rag serve` processes on one Chroma server, one Redis, one model."""
    env = {
        **server_mode(chroma_server, "workers"),
        "redis_url": redis_url,
        "llm_base_url": pacer.base_url,
        "llm_model": "scripted",
        "resume_grace_s": 5,
    }
    with serve_workers(tmp_path_factory, "worker", **env) as urls:
        yield urls
