"""Ingestion over HTTP: real Chroma, real embeddings, real model for the answer."""

import asyncio
import json
import time

import httpx
import pytest
from httpx_sse import aconnect_sse

from app.server import create_app

pytestmark = pytest.mark.anyio

STAGES = ["received", "chunked", "embedding", "embedded", "indexing", "ready"]


@pytest.fixture
def app(settings, embeddings):
    return create_app(
        settings.model_copy(update={"chunk_size": 200, "chunk_overlap": 20}), embeddings=embeddings
    )


async def stream_index(url, documents, headers=None):
    events = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        async with aconnect_sse(
            client, "POST", "/index/sse", json={"documents": documents}, headers=headers or {}
        ) as source:
            source.response.raise_for_status()
            async for sse in source.aiter_sse():
                if sse.data:
                    events.append(json.loads(sse.data))
    return events


def long_text(paragraphs: int) -> str:
    return "\n\n".join(
        f"Paragraph {i} about streaming ingestion and vector search. " * 3
        for i in range(paragraphs)
    )


async def test_index_sse_streams_each_stage_in_order_and_counts(serve, app):
    docs = [
        {"id": "guide", "content": long_text(6), "metadata": {"topic": "ingest"}},
        {"id": "note", "content": "A short note about Chroma."},
    ]
    with serve(app) as server:
        events = await stream_index(server.url, docs)
    assert events[0] == {"type": "pipeline_start", "total_docs": 2}
    for doc_id in ("guide", "note"):
        stages = [e for e in events if e.get("doc_id") == doc_id]
        assert [e["stage"] for e in stages] == STAGES
        chunked = stages[1]["num_chunks"]
        assert stages[3]["dims"] == 384 and stages[-1]["num_chunks_indexed"] == chunked
        assert {e["index"] for e in stages} == {["guide", "note"].index(doc_id)}
    assert "dims" not in events[1]  # a stage carries only its own counts
    assert events[1 + 6]["doc_id"] == "note"  # documents are reported one after the other
    done = events[-1]
    assert done["type"] == "pipeline_done" and (done["indexed"], done["failed"]) == (2, 0)
    assert done["collection_size"] == sum(
        e["num_chunks_indexed"] for e in events if e.get("stage") == "ready"
    )
    assert done["elapsed_ms"] > 0


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"id": "empty", "content": "   "}, "content: must not be empty"),
        ({"id": "binary", "content": "abc\x00def"}, "not text"),
        ({"id": "huge", "content": "x" * 2_000_001}, "at most 2000000"),
        ({"id": "nested", "content": "ok", "metadata": {"a": {"b": 1}}}, "metadata"),
        ({"id": "bad id", "content": "ok"}, "id"),
        ({"id": "number", "content": 42}, "content"),
    ],
)
async def test_bad_document_gets_doc_error_and_the_others_are_indexed(app, bad, reason):
    docs = [
        {"id": "good-1", "content": "First good document."},
        bad,
        {"id": "good-2", "content": "Second good document."},
    ]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        response = await c.post("/index", json={"documents": docs})
    body = response.json()
    assert response.status_code == 200
    assert (body["indexed"], body["failed"]) == (2, 1)
    assert [d["status"] for d in body["documents"]] == ["ready", "error", "ready"]
    assert reason in body["documents"][1]["error"]
    assert [body["documents"][i]["doc_id"] for i in (0, 2)] == ["good-1", "good-2"]
    assert body["collection_size"] == 2


async def test_reindex_with_fewer_chunks_leaves_no_stale_chunk(app):
    store = app.state.services.store
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        first = (
            await c.post("/index", json={"documents": [{"id": "g", "content": long_text(8)}]})
        ).json()
        second = (
            await c.post("/index", json={"documents": [{"id": "g", "content": "Now short."}]})
        ).json()
    assert first["documents"][0]["num_chunks"] > 2
    assert second["documents"][0]["num_chunks"] == 1
    assert store.get(where={"doc_id": "g"})["ids"] == ["g:0"]


async def test_same_content_twice_without_id_yields_the_same_id_and_no_duplicate(app):
    doc = {"content": "Identical text submitted twice."}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        a = (await c.post("/index", json={"documents": [doc]})).json()
        b = (await c.post("/index", json={"documents": [doc]})).json()
    assert a["documents"][0]["doc_id"] == b["documents"][0]["doc_id"]
    assert a["documents"][0]["doc_id"].startswith("sha-")
    assert b["collection_size"] == 1


async def test_document_is_answerable_right_after_its_ready_event(serve, app):
    fact = "The streaming-rag mascot is a heron named Quillon who guards the index."
    with serve(app) as server:
        events = await stream_index(server.url, [{"id": "mascot", "content": fact}])
        assert events[-2]["stage"] == "ready"
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            result = (
                await client.post(
                    "/rag/invoke",
                    json={"input": {"question": "What is the mascot called?", "k": 1}},
                )
            ).json()
    assert result["output"]["sources"][0]["doc_id"] == "mascot"
    assert result["output"]["answer"].strip()


async def test_writes_need_the_api_key_when_one_is_set(tmp_path, settings_factory, embeddings):
    settings = settings_factory(chroma_path=tmp_path / "chroma", api_key="s3cret")
    app = create_app(settings, embeddings=embeddings)
    body = {"documents": [{"content": "x"}]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        for path in ("/index", "/index/sse"):
            assert (await c.post(path, json=body)).status_code == 401
            wrong = await c.post(path, json=body, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        ok = await c.post("/index", json=body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()["indexed"] == 1


@pytest.mark.parametrize("body", [{}, {"documents": []}, {"documents": "text"}, {"docs": []}])
async def test_malformed_index_body_is_422_before_anything_starts(app, body):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        response = await c.post("/index/sse", json=body)
    assert response.status_code == 422


async def test_queries_during_reindexing_never_see_a_half_replaced_document(app, monkeypatch):
    """Old version: 8 chunks tagged v1; new: 3 tagged v2. A search sees one version only."""
    services = app.state.services
    old = {"id": "doc", "content": long_text(8).replace("Paragraph", "v1 Paragraph")}
    new = {"id": "doc", "content": long_text(3).replace("Paragraph", "v2 Paragraph")}
    async for _ in services.ingestor.run([old]):
        pass
    # Widen the window between the upsert and the stale-chunk delete (store.get runs
    # between them), so an unguarded search would land in it.
    original_get = services.store.get

    def slow_get(*args, **kwargs):
        time.sleep(0.05)
        return original_get(*args, **kwargs)

    monkeypatch.setattr(services.store, "get", slow_get)
    mixed = []

    async def query_loop():
        for _ in range(60):
            docs = await services.retriever.ainvoke("streaming ingestion", k=20)
            versions = {d.page_content.split()[0] for d in docs if d.metadata["doc_id"] == "doc"}
            if len(versions) > 1:
                mixed.append(versions)
            await asyncio.sleep(0.005)

    async def reindex_loop():
        for i in range(10):
            async for _ in services.ingestor.run([new if i % 2 == 0 else old]):
                pass

    await asyncio.gather(query_loop(), reindex_loop())
    assert mixed == []


def remove_the_collection(app) -> None:
    """Delete the collection under the running app, as an operator's mistake would."""
    services = app.state.services
    services.chroma.delete_collection(services.settings.collection)


async def test_index_sse_when_the_store_is_gone_ends_with_one_error_event(serve, app):
    remove_the_collection(app)
    with serve(app) as server:
        events = await stream_index(server.url, [{"id": "heron", "content": "Herons wade."}])
    types = [e["type"] for e in events]
    assert types[0] == "pipeline_start" and types[-1] == "error"
    assert types.count("error") == 1 and "pipeline_done" not in types
    assert events[-1]["code"] == "store_error" and events[-1]["retryable"] is True
    doc_error = next(e for e in events if e["type"] == "doc_error")
    assert doc_error == {
        "type": "doc_error",
        "doc_id": "heron",
        "index": 0,
        "error": "the vector store could not write this document",
    }


async def test_index_when_the_store_is_gone_is_503_naming_each_document(app):
    remove_the_collection(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        response = await c.post("/index", json={"documents": [{"id": "heron", "content": "x"}]})
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail["code"] == "store_error"
    assert detail["documents"] == [
        {
            "doc_id": "heron",
            "status": "error",
            "error": "the vector store could not write this document",
        }
    ]
