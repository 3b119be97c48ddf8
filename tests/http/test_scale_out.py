"""Scale-out on real engines: a ``chroma run`` server, API worker processes, Redis.

Everything here is a real process: Chroma's own server, Debian's ``redis-server``,
``streaming-rag serve`` (one per worker, or ``--workers 2``), the CLI's ``ingest``, and
llama.cpp serving OpenAI-compatible embeddings. The scripted model server only paces an
answer so that it can be cut mid-stream.
"""

import asyncio
import os
import re
import signal
import subprocess
import time

import httpx
import psutil
import pytest
from server_mode import redis_server, server_mode
from sse_helpers import (
    CLI,
    assert_well_formed_answer,
    model_request_ended,
    of_type,
    read_events,
    start_serve,
    tokens_of,
)
from test_resume import QUESTION, read_until_tokens, resume

from app.engines.llama_server import LocalModelServer
from app.server import create_app
from bench.harness import free_port
from bench.scripted_llm import Script
from chains.errors import EmbeddingMismatchError
from chains.loaders import file_doc_id

pytestmark = pytest.mark.anyio


async def test_rag_sse_flow_against_a_chroma_server_while_the_cli_writes_to_it(
    serve, kb_settings, embeddings, chroma_server, tmp_path
):
    settings = kb_settings.model_copy(update=server_mode(chroma_server, "flow"))
    app = create_app(settings, embeddings=embeddings)
    note = tmp_path / "okapi.md"
    note.write_text("The okapi ledger records every zebra-striped giraffe seen at dawn.\n")
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            others = ["SSE is one-way.", "HNSW is a graph index.", "BM25 weighs rare words."]
            documents = [{"id": f"other-{i}", "content": text} for i, text in enumerate(others)]
            indexed = await client.post("/index", json={"documents": documents})
            assert indexed.status_code == 200
        # The CLI writes to the same server while the API runs: no "stop serve first".
        env = {"RAG_CHROMA_HOST": "127.0.0.1", "RAG_CHROMA_PORT": str(chroma_server.port)}
        result = await asyncio.to_thread(
            subprocess.run,
            [str(CLI), "ingest", str(note)],
            env={**os.environ, **env, "RAG_COLLECTION": "flow"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        events = await read_events(
            server.url, json={"question": "What does the okapi ledger record?", "k": 2}
        )
        keyword_hits = app.state.services.keyword.invoke("okapi ledger")

    _, done = assert_well_formed_answer(events)
    sources = of_type(events, "source")
    assert sources[0]["doc_id"] == file_doc_id(note)
    assert done["metrics"]["token_count"] > 0
    assert keyword_hits and keyword_hits[0].metadata["doc_id"] == file_doc_id(note)


async def test_document_indexed_through_one_worker_is_answerable_from_the_other_at_once(
    two_workers, pacer
):
    first, second = two_workers
    pacer.script = Script(tokens=8)
    doc = {"id": "quokka", "content": "The quokka census counts 412 quokkas on Rottnest."}
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await client.post(f"{first}/index", json={"documents": [doc]})).status_code == 200
        pids = {(await client.get(f"{url}/health")).json()["worker"]["pid"] for url in two_workers}
        ready = (await client.get(f"{second}/health/ready")).json()["checks"]
    events = await read_events(second, json={"question": "How many quokkas are counted?"})

    assert len(pids) == 2
    assert ready["store"]["ok"] and ready["store"]["server"]
    assert ready["resume_buffer"] == {"ok": True, "redis": True}
    assert_well_formed_answer(events)
    assert of_type(events, "source")[0]["doc_id"] == "quokka"


async def test_document_deleted_through_one_worker_is_gone_from_the_others_next_answer(
    two_workers, pacer
):
    first, second = two_workers
    pacer.script = Script(tokens=8)
    doc = {"id": "numbat", "content": "The numbat roster lists QX-9183 termites per numbat."}
    question = {"question": "QX-9183 numbat roster", "progressive": True}
    async with httpx.AsyncClient(timeout=60) as client:
        assert (await client.post(f"{first}/index", json={"documents": [doc]})).status_code == 200
        before = await read_events(second, json=question)  # the second worker's BM25 holds it
        deleted = await client.delete(f"{first}/documents/numbat")
        listed = (await client.get(f"{second}/documents", params={"q": "numbat"})).json()
        opened = await client.get(f"{second}/documents/numbat")
    after = await read_events(second, json=question)

    assert "numbat" in {s["doc_id"] for s in of_type(before, "source")}
    assert deleted.status_code == 200 and deleted.json()["deleted"][0]["doc_id"] == "numbat"
    assert listed["total"] == 0 and opened.status_code == 404
    assert after[-1][1] == "done" and not of_type(after, "error")
    assert "numbat" not in {s["doc_id"] for s in of_type(after, "source")}


async def test_answer_cut_on_one_worker_resumes_on_the_other_through_redis(two_workers, pacer):
    first, second = two_workers
    pacer.script = Script(tokens=60, rate=60)
    whole = await read_events(second, json=QUESTION)
    before = await read_until_tokens(first, 10)
    after = await resume(second, before[-1][0])

    assert_well_formed_answer(whole)
    assert_well_formed_answer(before + after)
    assert tokens_of(after), "the second worker sent none of the rest"
    assert tokens_of(before) + tokens_of(after) == tokens_of(whole)


async def test_stop_sent_to_another_worker_cancels_the_answer_through_redis(two_workers, pacer):
    first, second = two_workers
    pacer.script = Script(tokens=400, rate=20)  # 20 s; the grace alone would keep it 5 s
    before = await read_until_tokens(first, 3)
    stream_id = before[-1][0].rpartition("-")[0]
    async with httpx.AsyncClient(timeout=30) as client:
        cancelled = await client.delete(f"{second}/rag/sse/{stream_id}")
        unknown = await client.delete(f"{second}/rag/sse/0123456789abcdef")
        await model_request_ended(pacer)
    late = await resume(second, before[-1][0])

    assert cancelled.status_code == 204 and unknown.status_code == 404
    assert pacer.calls[-1].client_disconnected and pacer.calls[-1].tokens_sent < 400
    assert late[-1][1] == "error" and late[-1][2]["code"] == "abandoned"


async def test_serve_runs_two_worker_processes_and_stops_them_on_sigterm(
    tmp_path, chroma_server, pacer
):
    env = {**server_mode(chroma_server, "pool"), "llm_base_url": pacer.base_url}
    process, url = start_serve(tmp_path, args=["--workers", "2"], llm_model="scripted", **env)
    try:
        # Which worker accepts a connection is the kernel's choice, so the workers are
        # found in uvicorn's log, where each says it started, and among serve's children.
        workers: set[int] = set()
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline:
            log = (tmp_path / "serve.log").read_text()
            workers = {int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", log)}
            await asyncio.sleep(0.2)
        children = {child.pid for child in psutil.Process(process.pid).children()}
        async with httpx.AsyncClient(timeout=30) as client:
            answered_by = (await client.get(f"{url}/health")).json()["worker"]["pid"]
            answered = await client.post(f"{url}/rag/sse", json=QUESTION)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert len(workers) == 2 and workers <= children
    assert answered_by in workers
    assert answered.status_code == 200 and "event: done" in answered.text
    assert code == 0 and not any(psutil.pid_exists(pid) for pid in workers)


def test_serve_with_workers_but_the_embedded_store_says_what_to_do(tmp_path):
    result = subprocess.run(
        [str(CLI), "serve", "--workers", "2"],
        env={**os.environ, "RAG_CHROMA_PATH": str(tmp_path / "chroma")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "streaming-rag chroma" in result.stderr and "RAG_CHROMA_HOST" in result.stderr


async def test_redis_going_away_is_a_503_before_a_stream_and_not_ready(
    serve, kb_settings, embeddings, pacer, tmp_path
):
    pacer.script = Script(tokens=5)
    with redis_server(tmp_path) as url:
        settings = {"llm_base_url": pacer.base_url, "llm_model": "scripted", "redis_url": url}
        app = create_app(kb_settings.model_copy(update=settings), embeddings=embeddings)
        with serve(app) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                served = await read_events(server.url, json=QUESTION)
                shutdown = ["redis-cli", "-u", url, "shutdown", "nosave"]
                await asyncio.to_thread(subprocess.run, shutdown, check=False)
                answer = await client.post("/rag/sse", json=QUESTION)
                ready = await client.get("/health/ready")
    assert_well_formed_answer(served)
    assert answer.status_code == 503 and "RAG_REDIS_URL" in answer.json()["detail"]
    assert ready.status_code == 503
    assert ready.json()["checks"]["resume_buffer"] == {"ok": False, "redis": True}


@pytest.fixture(scope="module")
def embedding_server(local_model, tmp_path_factory):
    """llama.cpp serving OpenAI-compatible embeddings (SmolLM2, mean-pooled, 576 dims)."""
    log = tmp_path_factory.mktemp("embeddings") / "llama.log"
    server = LocalModelServer(
        model_path=local_model, port=free_port(), slots=1, log_path=log, embeddings=True
    )
    with server:
        yield server


def openai_embeddings(settings, server):
    return settings.model_copy(
        update={
            "embeddings": "openai",
            "embeddings_base_url": server.base_url,
            "openai_embeddings_model": "smollm2",
        }
    )


async def test_openai_compatible_embeddings_index_and_answer_through_llama_server(
    serve, kb_settings, chroma_server, embedding_server
):
    settings = openai_embeddings(
        kb_settings.model_copy(update=server_mode(chroma_server, "remote-embeddings")),
        embedding_server,
    )
    app = create_app(settings)  # builds OpenAIEmbeddings against llama.cpp
    doc = {"id": "wombat", "content": "Wombats leave cube-shaped droppings on rocks."}
    with serve(app) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            assert (await client.post("/index", json={"documents": [doc]})).status_code == 200
            health = (await client.get("/health")).json()
        question = {"question": "What shape are wombat droppings?"}
        events = await read_events(server.url, json=question)

    assert health["embeddings"] == {"provider": "openai", "loaded": True, "dims": 576}
    assert_well_formed_answer(events)
    assert of_type(events, "source")[0]["doc_id"] == "wombat"


def test_collection_indexed_with_one_embedding_model_refuses_another(
    kb_settings, embeddings, chroma_server, embedding_server
):
    local = kb_settings.model_copy(update=server_mode(chroma_server, "minilm-only"))
    services = create_app(local, embeddings=embeddings).state.services
    asyncio.run(_index(services.ingestor, {"id": "a", "content": "MiniLM wrote this vector."}))
    asyncio.run(services.close())

    with pytest.raises(EmbeddingMismatchError) as refused:
        create_app(openai_embeddings(local, embedding_server))
    message = str(refused.value)
    assert "all-MiniLM-L6-v2 (384 dimensions)" in message and "smollm2 (576" in message
    assert "RAG_COLLECTION" in message


async def _index(ingestor, doc):
    return [event async for event in ingestor.run([doc])]
