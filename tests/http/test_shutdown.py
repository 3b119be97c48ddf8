"""Graceful shutdown of a real ``streaming-rag serve`` process on SIGTERM."""

import asyncio
import json
import signal

import httpx
import psutil
import pytest
from sse_helpers import start_serve

from bench.harness import free_port
from bench.scripted_llm import Script

pytestmark = pytest.mark.anyio


async def read_stream(client, question, got_token):
    """Every event of one answer; sets ``got_token`` at its first token."""
    events = []
    body = {"question": question, "k": 1}
    async with client.stream("POST", "/rag/sse", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
                if events[-1]["type"] == "token":
                    got_token.set()
    return events


async def test_sigterm_lets_short_streams_finish_and_ends_the_rest_with_a_retryable_error(
    tmp_path, scripted_llm
):
    process, url = start_serve(
        tmp_path, llm_base_url=scripted_llm.base_url, llm_model="scripted", shutdown_grace_s=2
    )
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            short_started, long_started = asyncio.Event(), asyncio.Event()
            scripted_llm.script = Script(tokens=40, rate=20)  # 2 s: inside the grace
            short = asyncio.create_task(read_stream(client, "What is HNSW?", short_started))
            await short_started.wait()
            scripted_llm.script = Script(tokens=400, rate=20)  # 20 s: past it
            long = asyncio.create_task(read_stream(client, "What is LCEL?", long_started))
            await long_started.wait()
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            with pytest.raises(httpx.ConnectError):
                await client.get("/health/live")  # no longer accepting
            short_events, long_events = await asyncio.gather(short, long)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert short_events[-1]["type"] == "done"
    assert [e["content"] for e in short_events if e["type"] == "token"] == Script(40).deltas()
    last = long_events[-1]
    assert last["type"] == "error" and last["code"] == "shutting_down" and last["retryable"]
    assert "done" not in [e["type"] for e in long_events]
    long_call = scripted_llm.calls[-1]
    assert long_call.client_disconnected and long_call.tokens_sent < 400
    log = (tmp_path / "serve.log").read_text()
    access = [json.loads(line) for line in log.splitlines() if '"streaming_rag.access"' in line]
    outcomes = sorted(line.get("outcome", "") for line in access if line["path"] == "/rag/sse")
    assert outcomes == ["done", "error"]
    assert all(line["request_id"] for line in access)


async def test_sigterm_stops_the_local_model_server(tmp_path):
    process, _ = start_serve(tmp_path, local_llm_port=free_port(), shutdown_grace_s=1)
    try:
        engines = [p for p in psutil.Process(process.pid).children() if "llama-server" in p.name()]
        assert len(engines) == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        engines[0].wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert not engines[0].is_running()
