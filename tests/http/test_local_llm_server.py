import os
import signal
import subprocess
import sys
import textwrap
import time

import anyio
import psutil
import pytest

from app.llm_server import LocalModelServer
from chains.errors import LocalModelServerError
from chains.llm import build_chat_model

GONE_WITHIN_S = 30.0
"""Only catches a process left behind; how fast it stops is not a test's business."""


def _llama_servers_on(port: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "app.llama_cpp_launcher" in cmdline and str(port) in cmdline:
            found.append(proc)
    return found


def _wait_until_gone(port: int, timeout_s: float = GONE_WITHIN_S) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while (left := _llama_servers_on(port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_chat_model_streams_several_chunks_from_local_server(local_llm):
    llm = build_chat_model(model="smollm2", base_url=local_llm.base_url, max_tokens=24)

    async def collect() -> list[str]:
        try:
            return [str(chunk.content) async for chunk in llm.astream("Name three colours.")]
        finally:
            await llm.http_async_client.aclose()

    chunks = anyio.run(collect)
    assert len([c for c in chunks if c]) > 1
    assert "".join(chunks).strip()


def test_local_server_honours_max_tokens(local_llm):
    """Regression: ChatOpenAI's max_completion_tokens was ignored by llama.cpp."""
    llm = build_chat_model(model="smollm2", base_url=local_llm.base_url, max_tokens=5)
    chunks = [c for c in llm.stream("Write a long story about a lighthouse keeper.") if c.content]
    assert 1 < len(chunks) <= 5


def test_local_server_stop_leaves_no_orphan_process(unused_port):
    server = LocalModelServer(port=unused_port)
    server.start()
    assert server.load_seconds is not None
    assert _llama_servers_on(unused_port)
    server.stop()
    assert _wait_until_gone(unused_port) == []


def test_local_server_dies_when_its_parent_is_killed(unused_port):
    """A SIGKILLed parent cannot clean up; PR_SET_PDEATHSIG must take the server down."""
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import time
            from app.llm_server import LocalModelServer
            LocalModelServer(port={unused_port}).start()
            print("ready", flush=True)
            time.sleep(600)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    ) as parent:
        try:
            assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
            assert _llama_servers_on(unused_port)
            parent.send_signal(signal.SIGKILL)
            parent.wait(timeout=10)
            assert _wait_until_gone(unused_port) == []
        finally:
            parent.kill()


def test_local_server_refuses_a_port_already_serving(local_llm):
    with pytest.raises(LocalModelServerError, match="already serving"):
        LocalModelServer(port=local_llm.port).start()
