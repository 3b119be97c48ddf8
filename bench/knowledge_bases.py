"""Section 16: curating a knowledge base of 10k chunks over HTTP: list, open, delete.

The collection is written straight into Chroma in ingestion's layout (``doc_id``,
``chunk_index``, ``start_index``, ``indexed_at`` on every chunk): 500 documents of 20
chunks of 400 characters, with random unit vectors, since no search is timed here.
One ``streaming-rag serve`` process on it answers every request over a real socket;
each figure is the client's wall time. Deletes remove different documents each time.

In process, the listing's cost is split: Chroma reading every chunk's metadata alone,
and with the chunk texts the character counts are read from; the two reads alternate.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.harness import fmt, run_alone, start_app, start_module, summary
from bench.report import Section
from chains.store import build_chroma_client, build_vector_store

DOCUMENTS = 500
CHUNKS_PER_DOCUMENT = 20
CHUNK_CHARS = 400
REPEATS = 20
BULK = 50


def build(path: Path) -> None:
    """The 10k-chunk collection, in ingestion's metadata layout."""
    client = build_chroma_client(path=path)
    collection = client.create_collection("streaming_rag", metadata={"hnsw:space": "cosine"})
    rng = np.random.default_rng(16)
    stamp = time.time_ns()
    for d in range(DOCUMENTS):
        ids = [f"doc-{d:04d}:{c}" for c in range(CHUNKS_PER_DOCUMENT)]
        vectors = rng.standard_normal((CHUNKS_PER_DOCUMENT, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        collection.add(
            ids=ids,
            embeddings=vectors,
            documents=[f"Document {d}, chunk {c}. ".ljust(CHUNK_CHARS, "x") for c in range(20)],
            metadatas=[
                {
                    "doc_id": f"doc-{d:04d}",
                    "chunk_index": c,
                    "start_index": c * CHUNK_CHARS,
                    "indexed_at": stamp + d,
                    "source": f"manuals/doc-{d:04d}.md",
                }
                for c in range(CHUNKS_PER_DOCUMENT)
            ],
        )


def chroma_reads(path: Path) -> dict[str, list[float]]:
    """Reading every chunk's metadata, alone and with its text, alternated (seconds)."""
    from chains.embeddings import build_embeddings

    store = build_vector_store(build_chroma_client(path=path), "streaming_rag", build_embeddings())
    reads: dict[str, list[float]] = {"metadata": [], "metadata and text": []}
    for _ in range(10):
        for label, include in (("metadata", ["metadatas"]), ("metadata and text", ["metadatas", "documents"])):
            started = time.perf_counter()
            store.get(include=include)  # type: ignore[arg-type]
            reads[label].append(time.perf_counter() - started)
    return reads


def _timed(client: httpx.Client, method: str, url: str, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    response = client.request(method, url, **kwargs)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


def over_http(url: str) -> dict[str, Any]:
    """Each route's wall times (seconds) on the 10k-chunk collection."""
    times: dict[str, list[float]] = {
        "list": [], "search": [], "open": [], "delete one": [], "delete 50": []
    }
    with httpx.Client(base_url=url, timeout=120) as client:
        total = _timed(client, "GET", "/documents")[1]["total"]
        for i in range(REPEATS):
            times["list"].append(_timed(client, "GET", "/documents", params={"page": i + 1})[0])
            times["search"].append(_timed(client, "GET", "/documents", params={"q": f"-{i:02d}"})[0])
            times["open"].append(_timed(client, "GET", f"/documents/doc-{i:04d}")[0])
        for i in range(REPEATS):
            elapsed, body = _timed(client, "DELETE", f"/documents/doc-{i:04d}")
            assert body["deleted"][0]["num_chunks"] == CHUNKS_PER_DOCUMENT, body
            times["delete one"].append(elapsed)
        for batch in range(3):
            ids = [f"doc-{100 + batch * BULK + j:04d}" for j in range(BULK)]
            times["delete 50"].append(_timed(client, "DELETE", "/documents", json={"ids": ids})[0])
        after = _timed(client, "GET", "/documents")[1]["total"]
    return {"times": times, "before": total, "after": after}


async def run(work: Path, logs: Path) -> dict[str, Any]:
    chroma = work / "kb-10k"
    build(chroma)
    reads = chroma_reads(chroma)
    scripted = start_module("scripted-llm", "bench.scripted_llm", ready_path="/v1/models", logs=logs)
    try:
        app = start_app(
            "kb-10k", chroma=chroma, llm_url=f"{scripted.url}/v1", model="scripted", logs=logs
        )
        try:
            measured = over_http(app.url)
        finally:
            app.stop()
    finally:
        scripted.stop()
    return {"reads": reads, **measured}


def section(r: dict[str, Any]) -> Section:
    """The report's section 16."""
    labels = {
        "list": "`GET /documents` (a page of 50)",
        "search": "`GET /documents?q=` (id or source contains)",
        "open": f"`GET /documents/{{id}}` ({CHUNKS_PER_DOCUMENT} chunks and the text)",
        "delete one": f"`DELETE /documents/{{id}}` ({CHUNKS_PER_DOCUMENT} chunks)",
        "delete 50": f"`DELETE /documents` ({BULK} ids, {BULK * CHUNKS_PER_DOCUMENT:,} chunks)",
    }
    figures = {key: summary([s * 1000 for s in values]) for key, values in r["times"].items()}
    rows = "\n".join(
        f"| {labels[key]} | {fmt(f['p50'])} | {fmt(f['p95'])} | {f['n']} |"
        for key, f in figures.items()
    )
    reads = {key: summary([s * 1000 for s in values]) for key, values in r["reads"].items()}
    read_rows = "\n".join(
        f"| {key} | {fmt(f['p50'])} | {fmt(f['p95'])} |" for key, f in reads.items()
    )
    body = f"""A knowledge base of {DOCUMENTS * CHUNKS_PER_DOCUMENT:,} chunks ({DOCUMENTS} documents of
{CHUNKS_PER_DOCUMENT} chunks of {CHUNK_CHARS} characters, ingestion's metadata layout) on embedded
Chroma, served by one `streaming-rag serve` process; client wall time, ms.

| request | p50 | p95 | n |
| --- | ---: | ---: | ---: |
{rows}

Documents listed before the deletes: {r["before"]}; after: {r["after"]}
({REPEATS} single deletes and 3 bulk deletes of {BULK}).

A listing reads every chunk of the collection (Chroma keeps chunks, not documents) and
groups them; of that, Chroma's read alone (in process, {reads["metadata"]["n"]} reads each,
alternated), ms:

| read | p50 | p95 |
| --- | ---: | ---: |
{read_rows}
"""
    return Section(
        16,
        "Knowledge bases: listing and deleting at 10k chunks",
        body,
        headline=[
            f"At 10k chunks: list {fmt(figures['list']['p50'], 0)} ms, open "
            f"{fmt(figures['open']['p50'], 0)} ms, delete a document "
            f"{fmt(figures['delete one']['p50'], 0)} ms (p50, over HTTP)"
        ],
    )


if __name__ == "__main__":
    run_alone(run, section, prefix="bench-kb-")
