"""Faults over HTTP: the model server killed or hanging, retries, the breaker, a read-only
store, and a hundred clients leaving at once.

The kill uses the real llama-server (SIGKILL mid-answer). The scripted model server
forces what the real one cannot do on demand: a hang after N tokens, 503s, a slow answer.
"""

import asyncio
import os
import signal
import subprocess
import threading
import time

import httpx
import psutil
import pytest
from sse_helpers import of_type, read_events, scripted_app, tokens_of

from app.engines.llama_server import LocalModelServer
from app.server import create_app
from bench.harness import free_port
from bench.scripted_llm import Script, ScriptedLLM
from chains.documents import document_text

pytestmark = pytest.mark.anyio

QUESTION = {"question": "What is backpressure?", "k": 2}


def types_of(events):
    return [t for _, t, _ in events]


async def test_model_server_killed_mid_stream_ends_with_error_after_the_sources(
    kb_settings, embeddings, local_model, tmp_path, serve
):
    engine = LocalModelServer(
        model_path=local_model, port=free_port(), slots=1, log_path=tmp_path / "llm.log"
    )
    engine.start()
    try:
        update = {"local_llm_port": engine.port, "llm_max_tokens": 4000, "llm_max_retries": 0}
        app = create_app(kb_settings.model_copy(update=update), embeddings=embeddings)
        events = []
        with serve(app) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                question = {"question": "Write a very long essay about streaming.", "k": 2}
                async with client.stream("POST", "/rag/sse", json=question) as response:
                    async for line in response.aiter_lines():
                        if line.startswith("event: "):
                            events.append(line.removeprefix("event: "))
                            if events.count("token") == 5:
                                engine.process.send_signal(signal.SIGKILL)
    finally:
        engine.stop()
    assert events.count("source") == 2 and events.index("source") < events.index("token")
    assert events[-1] == "error" and "done" not in events


async def test_model_server_hanging_mid_stream_times_out_after_the_sources(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=20, stall_after=3)
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, llm_timeout_s=1.0)
    with serve(app) as server:
        events = await read_events(server.url, json=QUESTION)
    types = types_of(events)
    assert types.count("source") == 2 and types[-1] == "error"
    (error,) = of_type(events, "error")
    assert error["code"] == "llm_timeout" and error["retryable"] is True
    assert tokens_of(events) == [" w0", " w1", " w2"]
    assert len(scripted_llm.calls) == 1, "a stream that started is never retried"


async def test_retries_happen_before_the_first_token_and_never_repeat_text(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=["One ", "answer, ", "once."], fail_first=2)
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, llm_max_retries=2)
    with serve(app) as server:
        events = await read_events(server.url, json=QUESTION)
    assert types_of(events)[-1] == "done"
    assert tokens_of(events) == ["One ", "answer, ", "once."]
    assert len(scripted_llm.calls) == 3  # two 503s, then the answer


async def test_retries_give_up_with_one_error_when_the_server_keeps_failing(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=3, fail_first=10)
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, llm_max_retries=1)
    with serve(app) as server:
        events = await read_events(server.url, json=QUESTION)
    (error,) = of_type(events, "error")
    assert error["code"] == "llm_error" and "503" in error["message"] and error["retryable"]
    assert len(scripted_llm.calls) == 2


async def test_breaker_opens_fails_fast_with_the_sources_and_closes_when_the_llm_is_back(
    serve, kb_settings, embeddings
):
    record = ScriptedLLM()
    record.script = Script(tokens=["Back ", "again."])
    llm = serve(record.app())  # its port is chosen now; it starts later
    record.url = llm.url
    app = scripted_app(
        kb_settings,
        embeddings,
        record.base_url,
        llm_max_retries=0,
        breaker_threshold=2,
        breaker_reset_s=1.5,
    )
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            for _ in range(2):  # the model server is down: two failures open the breaker
                failed = await read_events(server.url, json=QUESTION)
                assert "unreachable" in of_type(failed, "error")[0]["message"]
            with llm:  # the model server is back, but the breaker is open
                fast = await read_events(server.url, json=QUESTION)
                ready = await client.get("/health/ready")
                assert [t for t in types_of(fast) if t != "status"] == ["source", "source", "error"]
                (error,) = of_type(fast, "error")
                assert error["retryable"] and "circuit breaker open" in error["message"]
                assert record.calls == type(record.calls)(), "no request while it is open"
                assert ready.status_code == 503
                assert ready.json()["checks"]["breaker"] == {"ok": False, "state": "opened"}

                await asyncio.sleep(1.6)  # the breaker's reset time
                back = await read_events(server.url, json=QUESTION)
                closed = (await client.get("/health/ready")).json()["checks"]["breaker"]
    assert types_of(back)[-1] == "done" and tokens_of(back) == ["Back ", "again."]
    assert len(record.calls) == 1 and closed == {"ok": True, "state": "closed"}


@pytest.fixture
def read_only(tmp_path):
    """Make a directory read-only for real: a read-only bind mount as root, else chmod."""
    made = []

    def make(path):
        if os.geteuid() == 0:
            subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
            subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)
            made.append(("mount", path))
        else:
            for folder, _, files in os.walk(path):
                for name in [*files, "."]:
                    os.chmod(os.path.join(folder, name), 0o555)
            made.append(("chmod", path))

    yield make
    for how, path in made:
        if how == "mount":
            # Lazy: the app's Chroma client may still hold the sqlite file open.
            subprocess.run(["umount", "--lazy", str(path)], check=True)
        else:
            for folder, _, files in os.walk(path):
                for name in [*files, "."]:
                    os.chmod(os.path.join(folder, name), 0o755)


async def test_read_only_store_refuses_writes_clearly_and_keeps_what_it_had(
    settings, embeddings, tmp_path, read_only
):
    app = create_app(settings, embeddings=embeddings)
    store = app.state.services.store
    fact = "Herons of Quillon Bay nest in the alder trees above the tide line."
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        first = await c.post("/index", json={"documents": [{"id": "herons", "content": fact}]})
        assert first.json()["indexed"] == 1
        read_only(settings.chroma_path)
        new = {"id": "tides", "content": "Spring tides reach nine metres."}
        again = {"id": "herons", "content": "A replacement that must not land."}
        refused = await c.post("/index", json={"documents": [new, again]})
        answer = await c.post("/rag/invoke", json={"input": {"question": "Where do herons nest?"}})
    body = refused.json()
    assert body["indexed"] == 0 and body["failed"] == 2
    assert all("cannot be written (read-only?)" in d["error"] for d in body["documents"])
    assert answer.json()["output"]["sources"][0]["doc_id"] == "herons", "reads still work"
    assert document_text(store, "herons") == fact and document_text(store, "tides") is None


async def test_hundred_clients_disconnecting_at_once_leave_no_task_socket_or_model_request(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=3)
    # A disconnect cancels at once (no resume grace): test_resume covers the grace.
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, resume_grace_s=0)
    process = psutil.Process()
    with serve(app) as server:
        # Warm up: concurrent searches grow the default thread pool (Chroma and the
        # embedding model run there) to its ceiling, which is not a leak.
        await asyncio.gather(*(read_events(server.url, json=QUESTION) for _ in range(8)))
        await asyncio.sleep(0.5)
        tasks, threads = server.task_count(), threading.active_count()
        sockets = len(process.net_connections(kind="tcp"))
        scripted_llm.script = Script(tokens=400, rate=20)  # 20 s each if nobody left
        first_tokens = asyncio.Barrier(101)

        async def client_until_everyone_has_a_token():
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                async with client.stream("POST", "/rag/sse", json=QUESTION) as response:
                    async for line in response.aiter_lines():
                        if line == "event: token":
                            break
                    await first_tokens.wait()  # then all leave together

        clients = [asyncio.create_task(client_until_everyone_has_a_token()) for _ in range(100)]
        await first_tokens.wait()
        await asyncio.gather(*clients)
        deadline = time.monotonic() + 20  # only catches a hang
        while any(c.ended is None for c in scripted_llm.calls) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        assert server.task_count() <= tasks
        assert threading.active_count() <= threads
        assert len(process.net_connections(kind="tcp")) <= sockets
    streamed = list(scripted_llm.calls)[8:]
    assert len(streamed) == 100
    assert all(call.client_disconnected and call.tokens_sent < 400 for call in streamed)
