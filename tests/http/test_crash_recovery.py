"""kill -9 of a real ``streaming-rag serve`` during ingestion, then a restart.

Every document reported ``ready`` must be there whole, no document may be half
replaced, and running the same ingestion again must complete the rest.
"""

import json
import signal
from collections import defaultdict

import httpx
import pytest
from sse_helpers import start_serve

from chains.store import build_chroma_client, build_vector_store

pytestmark = pytest.mark.anyio

DOCS = 40


def paragraphs(tag, doc, count):
    return "\n\n".join(
        f"{tag} paragraph {i} of document {doc}: streaming ingestion writes chunks. " * 4
        for i in range(count)
    )


def versions_in(chroma_path, embeddings):
    """For each document, the set of versions (v1/v2) its chunks hold, and its chunk count."""
    store = build_vector_store(build_chroma_client(path=chroma_path), "streaming_rag", embeddings)
    found = store.get(include=["documents", "metadatas"])
    tags, counts = defaultdict(set), defaultdict(int)
    for text, meta in zip(found["documents"], found["metadatas"], strict=True):
        tags[meta["doc_id"]].add(text.split()[0])
        counts[meta["doc_id"]] += 1
    return tags, counts


async def test_kill_9_during_ingestion_leaves_ready_documents_whole_and_none_half_replaced(
    tmp_path, embeddings, unused_port
):
    env = {
        "llm_base_url": f"http://127.0.0.1:{unused_port}/v1",  # no model server needed
        "index_sample_docs": "false",
        "chunk_size": 300,
        "chunk_overlap": 0,
    }
    v1 = [{"id": f"d{i}", "content": paragraphs("v1", i, 6)} for i in range(DOCS)]
    v2 = [{"id": f"d{i}", "content": paragraphs("v2", i, 2)} for i in range(DOCS)]
    v2 += [{"id": f"n{i}", "content": paragraphs("v2", i, 3)} for i in range(DOCS)]

    process, url = start_serve(tmp_path, "first.log", **env)
    ready = []
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            first = await client.post("/index", json={"documents": v1})
            assert first.json()["indexed"] == DOCS
            async with client.stream("POST", "/index/sse", json={"documents": v2}) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and '"stage":"ready"' in line:
                        ready.append(json.loads(line.removeprefix("data: "))["doc_id"])
                        if len(ready) == 15:
                            process.send_signal(signal.SIGKILL)
                            break
    finally:
        process.kill()
        process.wait()

    process, url = start_serve(tmp_path, "second.log", **env)  # restart on the same store
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            health = (await client.get("/health/ready")).json()
            assert health["checks"]["store"]["ok"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    tags, counts = versions_in(tmp_path / "chroma", embeddings)
    half = {doc: t for doc, t in tags.items() if len(t) > 1}
    assert half == {}, f"half-replaced documents: {half}"
    for doc in ready:
        assert tags[doc] == {"v2"}, f"{doc} was reported ready but holds {tags[doc]}"
        assert counts[doc] == (2 if doc.startswith("d") else 3)
    for i in range(DOCS):
        assert tags[f"d{i}"] in ({"v1"}, {"v2"})
        assert counts[f"d{i}"] == (6 if tags[f"d{i}"] == {"v1"} else 2)
    assert set(ready) < {d["id"] for d in v2}, "the kill came before the run finished"

    process, url = start_serve(tmp_path, "third.log", **env)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            again = (await client.post("/index", json={"documents": v2})).json()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert again["indexed"] == len(v2) and again["failed"] == 0
    tags, counts = versions_in(tmp_path / "chroma", embeddings)
    assert all(t == {"v2"} for t in tags.values()) and len(tags) == len(v2)
    assert sum(counts.values()) == again["collection_size"] == DOCS * 2 + DOCS * 3
