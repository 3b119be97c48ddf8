"""The local engine, llama.cpp's llama-server, as the installed build runs it."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import psutil
import pytest

from app.engines.llama_server import LocalModelServer
from app.engines.model_file import engine_binary, local_model_file
from chains.errors import LocalModelServerError
from chains.llm import build_chat_model

GONE_WITHIN_S = 30.0
"""Only catches a process left behind; how fast it stops is not a test's business."""


def _llama_servers_on(port: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if cmdline and cmdline[0].endswith("llama-server") and str(port) in cmdline:
            found.append(proc)
    return found


def _wait_until_gone(port: int, timeout_s: float = GONE_WITHIN_S) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while (left := _llama_servers_on(port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_engine_is_the_build_installed_beside_this_python(local_llm):
    binary = Path(local_llm.command()[0])
    assert binary == Path(sys.executable).parent / "llama-server" and binary.is_file()
    assert _llama_servers_on(local_llm.port), "the session's llama-server is not running"


def test_engine_answers_inside_a_network_namespace_with_only_loopback(local_model):
    """Nothing is fetched at run time: no route out, and the model still answers."""
    script = textwrap.dedent(f"""
        import subprocess
        from pathlib import Path
        from app.engines.llama_server import LocalModelServer
        from bench.harness import free_port
        from chains.llm import build_chat_model
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
        assert "default" not in routes, routes
        with LocalModelServer(model_path=Path({str(local_model)!r}), port=free_port()) as s:
            llm = build_chat_model(model="smollm2", base_url=s.base_url, max_tokens=8)
            print("answer:", llm.invoke("Say hello.").content)
    """)
    run = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("answer: ") and len(run.stdout.strip()) > len("answer:")


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


def test_two_streams_at_once_both_get_tokens_before_either_ends(local_llm):
    """Parallel slots: a second user does not wait behind the first one's whole answer."""
    llm = build_chat_model(model="smollm2", base_url=local_llm.base_url, max_tokens=64)
    prompts = ["Write a long story about a lighthouse keeper.", "Describe the sea in detail."]

    async def stream(prompt: str, timeline: list[tuple[float, str]]) -> None:
        async for chunk in llm.astream(prompt):
            if chunk.content:
                timeline.append((time.monotonic(), str(chunk.content)))

    async def both() -> list[list[tuple[float, str]]]:
        timelines: list[list[tuple[float, str]]] = [[], []]
        try:
            await asyncio.gather(*(stream(p, t) for p, t in zip(prompts, timelines, strict=True)))
        finally:
            await llm.http_async_client.aclose()
        return timelines

    first, second = anyio.run(both)
    assert len(first) > 5 and len(second) > 5
    assert first[0][0] < second[-1][0] and second[0][0] < first[-1][0]


def test_converted_model_is_reused_then_rebuilt_when_truncated(tmp_path):
    path = local_model_file("Q4_0", tmp_path)
    made = path.stat()
    assert path.name == "SmolLM2-135M-Instruct.Q4_0.gguf"
    again = local_model_file("Q4_0", tmp_path).stat()
    assert (again.st_ino, again.st_mtime_ns) == (made.st_ino, made.st_mtime_ns)

    with path.open("r+b") as file:  # a copy cut short, as a crash mid-write leaves it
        file.truncate(made.st_size // 2)
    rebuilt = local_model_file("Q4_0", tmp_path).stat()
    assert rebuilt.st_size == made.st_size and rebuilt.st_ino != made.st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.name + ".sha256"]


def test_a_rebuilt_model_file_serves_answers(tmp_path, unused_port):
    path = local_model_file("Q4_0", tmp_path)
    path.write_bytes(path.read_bytes()[:1000])  # corrupt: a header and nothing else
    with LocalModelServer(model_path=local_model_file("Q4_0", tmp_path), port=unused_port) as s:
        llm = build_chat_model(model="smollm2", base_url=s.base_url, max_tokens=8)
        assert llm.invoke("Say hello.").content


def test_local_server_stop_leaves_no_orphan_process(local_model, unused_port):
    server = LocalModelServer(model_path=local_model, port=unused_port)
    server.start()
    assert server.load_seconds is not None
    assert _llama_servers_on(unused_port)
    server.stop()
    assert _wait_until_gone(unused_port) == []


def test_local_server_dies_when_its_parent_is_killed(local_model, unused_port):
    """A SIGKILLed parent cannot clean up; PR_SET_PDEATHSIG must take the server down."""
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import time
            from pathlib import Path
            from app.engines.llama_server import LocalModelServer
            LocalModelServer(model_path=Path({str(local_model)!r}), port={unused_port}).start()
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


def test_local_server_refuses_a_port_already_serving(local_llm, local_model):
    with pytest.raises(LocalModelServerError, match="already serving"):
        LocalModelServer(model_path=local_model, port=local_llm.port).start()


def test_missing_engine_binary_is_a_clear_error():
    with pytest.raises(LocalModelServerError, match="make install"):
        engine_binary("llama-nonexistent")
