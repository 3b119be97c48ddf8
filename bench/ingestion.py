"""Section 7: ingestion throughput, batch vs one-at-a-time embedding, time to queryable."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import chromadb
import httpx
from langchain_core.embeddings import Embeddings

from bench.corpus import CHUNK_SIZE, make_documents
from bench.harness import Service, fmt, summary
from bench.report import Section, bar_chart
from chains.chunking import build_splitter, chunk_document
from chains.ingest import Ingestor
from chains.store import build_chroma_client, build_vector_store


async def ingest_corpus(embeddings: Embeddings, path: Path, chunks: int) -> dict[str, float]:
    """Index ``chunks`` chunks through the real pipeline; time the embedding and write stages."""
    store = build_vector_store(build_chroma_client(path=path), "bench", embeddings)
    ingestor = Ingestor(store, build_splitter(CHUNK_SIZE, 0), lock=threading.Lock())
    documents = make_documents(chunks, seed=chunks)
    stage_started: dict[str, float] = {}
    embed_s = write_s = 0.0
    indexed = 0
    started = time.perf_counter()
    async for event in ingestor.run(documents):
        now = time.perf_counter()
        if event.type == "doc_stage":
            if event.stage in ("embedding", "indexing"):
                stage_started[event.stage] = now
            elif event.stage == "embedded":
                embed_s += now - stage_started["embedding"]
            elif event.stage == "ready":
                write_s += now - stage_started["indexing"]
                indexed += event.num_chunks_indexed or 0
        elif event.type == "doc_error":
            raise RuntimeError(f"benchmark document failed: {event.error}")
    elapsed = time.perf_counter() - started
    assert indexed == chunks, (indexed, chunks)
    return {
        "chunks": chunks,
        "documents": len(documents),
        "seconds": elapsed,
        "chunks_per_s": chunks / elapsed,
        "embed_s": embed_s,
        "write_s": write_s,
    }


def embedding_modes(embeddings: Embeddings) -> dict[str, float]:
    """Chunks/s for one call per chunk, one call per document (what we do), one call in all."""
    splitter = build_splitter(CHUNK_SIZE, 0)
    per_doc = [
        [c.page_content for c in chunk_document(d, splitter)] for d in make_documents(200, seed=3)
    ]
    texts = [t for doc in per_doc for t in doc]
    results = {}
    t0 = time.perf_counter()
    for text in texts:
        embeddings.embed_documents([text])
    results["one call per chunk"] = len(texts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for doc in per_doc:
        embeddings.embed_documents(doc)
    results["one call per document (ours)"] = len(texts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    embeddings.embed_documents(texts)
    results["one call for all 200"] = len(texts) / (time.perf_counter() - t0)
    long_docs = make_documents(100, seed=4, chunk_size=800)
    long_per_doc = [
        [c.page_content for c in chunk_document(d, build_splitter(800, 0))] for d in long_docs
    ]
    t0 = time.perf_counter()
    for doc in long_per_doc:
        embeddings.embed_documents(doc)
    results["800-char chunks, per document"] = sum(map(len, long_per_doc)) / (
        time.perf_counter() - t0
    )
    return results


PAGES = {
    "beekeeping": "How often should a beekeeper inspect the hives in spring?",
    "lighthouses": "Who keeps the lighthouse lamp lit through a winter storm?",
    "sourdough": "How long does the sourdough starter ferment before baking?",
    "volcanoes": "What warning signs come before a volcanic eruption?",
    "chess": "Which chess opening sacrifices a pawn for quick development?",
}
"""One-page documents on topics the corpus never mentions, each with a question about it."""


def one_page(topic: str, question: str) -> str:
    """About a page (3,000 characters) on ``topic``, answering ``question``."""
    sentence = (
        f"This page is about {topic}. It answers the question: {question} "
        f"Experts in {topic} keep notes, follow seasonal routines and train apprentices. "
    )
    return sentence * (3000 // len(sentence) + 1)


async def time_to_queryable(app: Service) -> dict[str, list[float]]:
    """POST one one-page document to /index/sse, then ask about it at once over /rag/sse."""
    received_to_ready: list[float] = []
    to_queryable: list[float] = []
    async with httpx.AsyncClient(base_url=app.url, timeout=60) as client:
        for topic, question in PAGES.items():
            doc_id = f"page-{topic}"
            document = {"id": doc_id, "content": one_page(topic, question)}
            sent = time.perf_counter()
            received = ready = None
            async with client.stream(
                "POST", "/index/sse", json={"documents": [document]}
            ) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        if event.get("stage") == "received":
                            received = time.perf_counter()
                        elif event.get("stage") == "ready":
                            ready = time.perf_counter()
            assert received and ready, "ingestion stream ended without ready"
            received_to_ready.append(ready - received)
            top = None
            async with client.stream(
                "POST", "/rag/sse", json={"question": question, "k": 1}
            ) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and '"type":"source"' in line:
                        top = json.loads(line[6:])["doc_id"]
                        break
            if top != doc_id:
                raise RuntimeError(f"right after ready, the top source was {top}, not {doc_id}")
            to_queryable.append(time.perf_counter() - sent)
    return {"received_to_ready": received_to_ready, "request_to_first_source": to_queryable}


def section(
    corpora: list[dict[str, float]],
    modes: dict[str, float],
    single: dict[str, list[float]],
    out: Path,
) -> Section:
    rows = "\n".join(
        f"| {int(c['chunks']):,} | {int(c['documents']):,} | {fmt(c['seconds'])} | **{fmt(c['chunks_per_s'])}** | "
        f"{fmt(100 * c['embed_s'] / c['seconds'], 0)} % | {fmt(100 * c['write_s'] / c['seconds'], 0)} % |"
        for c in corpora
    )
    mode_rows = "\n".join(f"| {name} | {fmt(rate)} |" for name, rate in modes.items())
    r2r = summary(single["received_to_ready"])
    q = summary(single["request_to_first_source"])
    per_chunk = modes["one call per chunk"]
    per_doc = modes["one call per document (ours)"]
    chart = bar_chart(
        out / "ingestion.png",
        "Ingestion: chunks/s (real MiniLM embeddings, embedded Chroma)",
        [f"{int(c['chunks']):,} chunks" for c in corpora] + list(modes),
        {"chunks/s": [c["chunks_per_s"] for c in corpora] + list(modes.values())},
        "chunks/s",
    )
    body = f"""
The whole pipeline (`chains.ingest.Ingestor`: split, embed each document's chunks in one
batch, upsert into Chroma under the write lock) on corpora of {CHUNK_SIZE}-character
chunks (about 50 tokens each) built from the sample knowledge base's sentences, about
{corpora[-1]["chunks"] / corpora[-1]["documents"]:.0f} chunks per document. Embedding is real (all-MiniLM-L6-v2 on the CPU); so is Chroma.

| chunks | documents | seconds | chunks/s | time embedding | time writing |
| ---: | ---: | ---: | ---: | ---: | ---: |
{rows}

Embedding modes on the same 200 chunks (chunks/s), and the default 800-character chunk:

| mode | chunks/s |
| --- | ---: |
{mode_rows}

Batching per document is {fmt(per_doc / per_chunk, 2)}x one call per chunk. The pipeline's
rate is below the per-document batch rate because the Chroma writes (the other
{fmt(100 * corpora[-1]["write_s"] / corpora[-1]["seconds"], 0)} %) run after each document's embedding instead of beside the next one's. On 2 cores the
model is compute-bound: a batch saves the per-call overhead, not the arithmetic, so
bigger batches gain little. Throughput is set by tokens: 800-character chunks are about
four times the tokens of these.

A one-page document (about 3,000 characters) through `POST /index/sse` on
a running server holding 10k chunks, then asked about at once over `/rag/sse`:
`received` → `ready` p50 **{fmt(r2r["p50"] * 1000)} ms** (p95 {fmt(r2r["p95"] * 1000)} ms);
request sent → the new document is the top `source` of a question p50
{fmt(q["p50"] * 1000)} ms ({r2r["n"]} documents on topics the corpus never mentions; each was the top source).
"""
    return Section(
        7,
        "Ingestion",
        body,
        chart,
        [
            f"Ingestion: {fmt(corpora[-1]['chunks_per_s'])} chunks/s over {int(corpora[-1]['chunks']):,} chunks "
            f"({CHUNK_SIZE}-char chunks; {fmt(modes['800-char chunks, per document'])} chunks/s at 800 chars); "
            f"a one-page document is ready {fmt(r2r['p50'] * 1000, 0)} ms after `received`.",
        ],
    )


def collection(path: Path) -> chromadb.Collection:
    return build_chroma_client(path=path).get_collection("bench")
