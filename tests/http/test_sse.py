"""The typed-event SSE route over a real socket: real app, model server and Chroma."""

import asyncio
import json
import threading
import time

import httpx
import psutil
import pytest
from httpx_sse import aconnect_sse
from sse_helpers import (
    assert_well_formed_answer,
    model_request_ended,
    read_events,
    scripted_app,
    tokens_of,
)

from bench.scripted_llm import Script

pytestmark = pytest.mark.anyio

QUESTION = {"question": "What is backpressure?", "k": 2}

CITING_ANSWER = [
    "Back",
    "pressure",
    " slows the producer",
    " [",
    "doc",
    "-00",
    "1]",
    ". Ça",
    " marche",
    " ✓ —",
    " 日本",
    "語",
    " 🚀",
    " [doc-0",
    "09]",
    " and",
    " 【doc",
    "-002】",
    ".",
]
"""A scripted answer: multi-byte text, and valid and invalid keys split across tokens."""


async def test_sse_sends_every_source_before_the_first_token(live_server):
    events = await read_events(live_server, json=QUESTION)
    types, done = assert_well_formed_answer(events)
    assert types[:4] == ["status", "source", "source", "status"]
    sources = [p for _, t, p in events if t == "source"]
    assert [s["cite"] for s in sources] == ["doc-001", "doc-002"]
    assert sources[0]["doc_id"] == "backpressure" and 0 < sources[0]["score"] <= 1
    m = done["metrics"]
    assert m["token_count"] == types.count("token") > 1
    assert 0 < m["retrieval_ms"] <= m["ttfs_ms"] <= m["ttft_ms"] <= m["total_ms"]
    assert m["tokens_per_sec"] > 0
    assert set(done["cited"]) | set(done["uncited"]) == {"doc-001", "doc-002"}


async def test_sse_response_disables_caching_and_proxy_buffering(live_server):
    async with httpx.AsyncClient(base_url=live_server, timeout=60) as client:
        async with client.stream("POST", "/rag/sse", json={**QUESTION, "k": 1}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            await response.aread()


async def test_sse_get_serves_eventsource_clients(live_server):
    events = await read_events(
        live_server,
        "GET",
        "/rag/sse",
        params={"q": "What is HNSW?", "k": 1, "filter": json.dumps({"topic": "vector-search"})},
    )
    assert_well_formed_answer(events)
    sources = [p for _, t, p in events if t == "source"]
    assert len(sources) == 1 and sources[0]["metadata"]["topic"] == "vector-search"


async def test_sse_accepts_query_and_n_results_aliases(live_server):
    events = await read_events(live_server, json={"query": "What is Chroma?", "n_results": 1})
    assert_well_formed_answer(events)
    assert [t for _, t, _ in events].count("source") == 1


async def test_sse_with_stream_sources_false_sends_no_source(live_server):
    events = await read_events(live_server, json={**QUESTION, "stream_sources": False})
    types, _ = assert_well_formed_answer(events)
    assert "source" not in types


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"json": {}}, "question"),
        ({"json": {"question": " "}}, "question"),
        ({"json": {"question": "hi", "k": 0}}, "k"),
        ({"json": {"question": "hi", "filter": {"a": [1]}}}, "filter"),
        ({"json": {"question": "hi", "stream": True}}, "stream"),
        ({"content": b"not json", "headers": {"content-type": "application/json"}}, "body"),
    ],
)
async def test_sse_bad_input_is_422_naming_the_field_before_any_event(live_server, kwargs, field):
    async with httpx.AsyncClient(base_url=live_server) as client:
        response = await client.post("/rag/sse", **kwargs)
    assert response.status_code == 422
    assert any(field in err["loc"] for err in response.json()["detail"])


async def test_sse_get_without_q_is_422(live_server):
    async with httpx.AsyncClient(base_url=live_server) as client:
        response = await client.get("/rag/sse", params={"k": 2})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "q"]


async def test_remote_runnable_on_rag_events_yields_the_same_typed_events(
    live_server, remote_runnable
):
    remote = remote_runnable(f"{live_server}/rag/events")
    events = [e async for e in remote.astream(QUESTION)]
    types = [e["type"] for e in events]
    assert types[:4] == ["status", "source", "source", "status"] and types[-1] == "done"
    assert types.count("token") > 1 and events[-1]["metrics"]["token_count"] > 1


# -- exact content, faults: forced with the scripted OpenAI-compatible server -------------


async def test_sse_delivers_exactly_the_tokens_the_model_server_sent(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=CITING_ANSWER)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        events = await read_events(server.url, json=QUESTION)
    assert_well_formed_answer(events)
    assert tokens_of(events) == CITING_ANSWER
    assert scripted_llm.calls[-1].tokens_sent == len(CITING_ANSWER)


async def test_sse_slow_consumer_with_small_queue_receives_every_token_in_order(
    serve, kb_settings, embeddings, scripted_llm
):
    sent = [f" {i}·日本" if i % 7 == 0 else f" t{i}" for i in range(300)]
    scripted_llm.script = Script(tokens=sent)
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, queue_maxsize=2)
    with serve(app) as server:
        events = await read_events(server.url, json=QUESTION, delay=0.005)
    assert_well_formed_answer(events)
    assert tokens_of(events) == sent


async def test_sse_citations_split_across_tokens_are_checked_end_to_end(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=CITING_ANSWER)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        events = await read_events(server.url, json=QUESTION)
    _, done = assert_well_formed_answer(events)
    source_ids = {p["cite"]: p["id"] for _, t, p in events if t == "source"}
    citations = [(i, p) for i, (_, t, p) in enumerate(events) if t == "citation"]
    assert [(p["cite"], p["valid"], p["source_id"]) for _, p in citations] == [
        ("doc-001", True, source_ids["doc-001"]),
        ("doc-009", False, None),
        ("doc-002", True, source_ids["doc-002"]),
    ]
    completing = {"doc-001": "1]", "doc-009": "09]", "doc-002": "-002】"}
    for position, citation in citations:  # right after the token that completed the key
        tokens_before = [p["content"] for _, t, p in events[:position] if t == "token"]
        assert len(tokens_before) - 1 == citation["token_index"]
        assert tokens_before[-1] == completing[citation["cite"]]
    assert done["cited"] == ["doc-001", "doc-002"]
    assert done["invalid_citations"] == ["doc-009"]
    assert done["uncited"] == []


async def test_remote_runnable_on_rag_events_yields_exactly_the_tokens_sent(
    serve, kb_settings, embeddings, scripted_llm, remote_runnable
):
    scripted_llm.script = Script(tokens=CITING_ANSWER)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        remote = remote_runnable(f"{server.url}/rag/events")
        events = [e async for e in remote.astream(QUESTION)]
    assert [e["content"] for e in events if e["type"] == "token"] == CITING_ANSWER
    assert [e["cite"] for e in events if e["type"] == "citation"] == [
        "doc-001",
        "doc-009",
        "doc-002",
    ]


async def abort_after_first_token(url):
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        async with aconnect_sse(client, "POST", "/rag/sse", json=QUESTION) as source:
            async for sse in source.aiter_sse():
                if sse.event == "token":
                    return time.monotonic()
    raise AssertionError("no token arrived")


async def test_sse_disconnect_after_first_token_closes_the_llm_request(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=400, rate=20)  # 20 s if nobody closed it
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, resume_grace_s=0)
    with serve(app) as server:
        await abort_after_first_token(server.url)
        call = await model_request_ended(scripted_llm)  # bench/ measures the delay
    assert call.client_disconnected, "the LLM stream ran to its end"
    assert call.tokens_sent < 400


async def test_sse_many_aborted_streams_leave_no_task_thread_or_socket(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=400, rate=20)
    app = scripted_app(kb_settings, embeddings, scripted_llm.base_url, resume_grace_s=0)
    process = psutil.Process()
    with serve(app) as server:
        # Warm up: concurrent streams grow the default thread pool (Chroma and the
        # embedding model run there) to its ceiling, which is not a leak.
        await asyncio.gather(*(abort_after_first_token(server.url) for _ in range(8)))
        await asyncio.sleep(0.5)
        tasks, threads = server.task_count(), threading.active_count()
        sockets = len(process.net_connections(kind="tcp"))
        for _ in range(15):
            await abort_after_first_token(server.url)
        await asyncio.sleep(1.0)
        assert server.task_count() <= tasks
        assert threading.active_count() <= threads
        assert len(process.net_connections(kind="tcp")) <= sockets
    assert all(call.client_disconnected for call in scripted_llm.calls)


async def test_sse_when_llm_is_unreachable_ends_with_retryable_error_after_sources(
    kb_settings, embeddings, unused_port, serve
):
    app = scripted_app(kb_settings, embeddings, f"http://127.0.0.1:{unused_port}/v1")
    with serve(app) as server:
        events = await read_events(server.url, json=QUESTION)
    types = [t for _, t, _ in events]
    assert types[:3] == ["status", "source", "source"]
    assert types[-1] == "error" and types.count("error") == 1 and "done" not in types
    error = events[-1][2]
    assert error["code"] == "llm_unavailable" and error["retryable"] is True
    assert "Traceback" not in error["message"]


async def test_sse_when_llm_dies_mid_stream_ends_with_error_after_its_tokens(
    serve, kb_settings, embeddings, scripted_llm
):
    scripted_llm.script = Script(tokens=10, die_after=3)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        events = await read_events(server.url, json=QUESTION)
    types = [t for _, t, _ in events]
    assert tokens_of(events) == [" w0", " w1", " w2"]
    assert types.index("source") < types.index("token")
    assert types[-1] == "error" and types.count("error") == 1
    assert events[-1][2]["retryable"] is True


async def test_sse_sends_comment_pings_that_leave_events_intact(
    serve, kb_settings, embeddings, scripted_llm, monkeypatch
):
    monkeypatch.setattr("app.routes.sse.PING_SECONDS", 1)
    scripted_llm.script = Script(tokens=50, rate=20)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            response = await client.post("/rag/sse", json=QUESTION)
    raw = response.text
    assert raw.count(": ping") >= 1
    frames = [f for f in raw.replace("\r\n", "\n").split("\n\n") if f.strip()]
    events = [f for f in frames if not f.startswith(":")]
    payloads = [
        json.loads(line[len("data: ") :])
        for f in events
        for line in f.split("\n")
        if line.startswith("data: ")
    ]
    assert len(payloads) == len(events)
    assert payloads[-1]["type"] == "done"
    assert [p["type"] for p in payloads].count("token") == 50


async def test_cli_remote_reader_ignores_ping_comments(
    serve, kb_settings, embeddings, scripted_llm, monkeypatch
):
    """Regression: httpx-sse yields an empty event after each ping; ask --url crashed on it."""
    from app.cli.ask import read_remote_events

    monkeypatch.setattr("app.routes.sse.PING_SECONDS", 1)
    scripted_llm.script = Script(tokens=50, rate=20)
    with serve(scripted_app(kb_settings, embeddings, scripted_llm.base_url)) as server:
        events = [e async for e in read_remote_events(server.url, dict(QUESTION))]
    assert events[-1].type == "done"
    assert [e.content for e in events if e.type == "token"] == [f" w{i}" for i in range(50)]
