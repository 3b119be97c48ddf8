"""Section 13: 200 concurrent answer streams plus 20 concurrent ingestion requests.

One ``streaming-rag serve`` process (sample knowledge base) answers from the scripted
model server (bench's load generator: 30 tokens at 30 tokens/s per answer), while 20
``POST /index/sse`` requests of 5 documents each run at the same time. Every stream
must end with ``done`` holding every token the scripted server sent, and every document
reported ``ready`` must then be the first source of a question that quotes it. The test
suite runs the same scenario (``tests/http/test_load.py``) and checks those; this
section reports the times.

Run alone: ``python -m bench.load`` prints this section.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.harness import (
    fmt,
    run_alone,
    set_script,
    start_app,
    start_module,
    summary,
    timed_payloads,
)
from bench.scripted_llm import Script

if TYPE_CHECKING:
    from bench.report import Section

STREAMS = 200
INGEST_REQUESTS = 20
DOCS_PER_REQUEST = 5
ANSWER = Script(tokens=[f" t{i}" for i in range(30)], rate=30)
"""What the scripted model server sends for every answer (one second of tokens)."""


@dataclass
class LoadResult:
    """What the clients saw: each stream's events, the documents reported ready."""

    streams: list[list[dict[str, Any]]] = field(default_factory=list)
    first_source_s: list[float] = field(default_factory=list)
    first_token_s: list[float] = field(default_factory=list)
    stream_s: list[float] = field(default_factory=list)
    ready: dict[str, str] = field(default_factory=dict)
    """Each ready document's id, and its content."""
    ingest_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0


def _document(request: int, doc: int) -> dict[str, str]:
    return {
        "id": f"load-{request}-{doc}",
        "content": f"Load test note {request}.{doc}: the courier pigeon number {request * 7 + doc}"
        f" carries message {doc} of batch {request} across the valley of {request}-{doc}.",
    }


async def _stream(client: httpx.AsyncClient, index: int, result: LoadResult) -> None:
    started = time.perf_counter()
    events: list[dict[str, Any]] = []
    body = {"question": f"What is backpressure? ({index})", "k": 2}
    async for now, event in timed_payloads(client, "/rag/sse", body):
        if event["type"] == "source" and not any(e["type"] == "source" for e in events):
            result.first_source_s.append(now)
        elif event["type"] == "token" and not any(e["type"] == "token" for e in events):
            result.first_token_s.append(now)
        events.append(event)
    result.stream_s.append(time.perf_counter() - started)
    result.streams.append(events)


async def _ingest(client: httpx.AsyncClient, request: int, result: LoadResult) -> None:
    started = time.perf_counter()
    docs = [_document(request, d) for d in range(DOCS_PER_REQUEST)]
    contents = {d["id"]: d["content"] for d in docs}
    async with client.stream("POST", "/index/sse", json={"documents": docs}) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and '"stage":"ready"' in line:
                doc_id = json.loads(line[6:])["doc_id"]
                result.ready[doc_id] = contents[doc_id]
    result.ingest_s.append(time.perf_counter() - started)


async def run_load(url: str) -> LoadResult:
    """The scenario against a running app whose model server answers with :data:`ANSWER`."""
    result = LoadResult()
    limits = httpx.Limits(max_connections=STREAMS + INGEST_REQUESTS + 10)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(
            *(_stream(client, i, result) for i in range(STREAMS)),
            *(_ingest(client, r, result) for r in range(INGEST_REQUESTS)),
        )
        result.wall_s = time.perf_counter() - started
    return result


async def first_sources(url: str, ready: dict[str, str]) -> dict[str, str | None]:
    """For each ready document, the first source of a question quoting its content."""

    async def one(client: httpx.AsyncClient, content: str) -> str | None:
        body = {"input": {"question": content, "k": 1}}
        output = (await client.post("/rag/invoke", json=body)).json()["output"]
        return output["sources"][0]["doc_id"] if output["sources"] else None

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        found: dict[str, str | None] = {}
        items = list(ready.items())
        for start in range(0, len(items), 20):
            batch = items[start : start + 20]
            ids = await asyncio.gather(*(one(client, content) for _, content in batch))
            found.update({doc_id: got for (doc_id, _), got in zip(batch, ids, strict=True)})
    return found


async def run(work: Path, logs: Path) -> LoadResult:
    scripted = start_module("scripted-llm", "bench.scripted_llm", ready_path="/v1/models", logs=logs)
    app = start_app(
        "load-app",
        chroma=work / "load-chroma",
        llm_url=f"{scripted.url}/v1",
        model="scripted",
        logs=logs,
        index_sample_docs="true",
    )
    try:
        await set_script(scripted, tokens=len(ANSWER.deltas()), rate=ANSWER.rate)
        return await run_load(app.url)
    finally:
        app.stop()
        scripted.stop()


def section(result: LoadResult) -> Section:
    # Imported here: the test suite runs this scenario without bench's chart libraries.
    from bench.report import Section

    done = sum(1 for events in result.streams if events and events[-1]["type"] == "done")
    ttfs, ttft, total = (summary(v) for v in (result.first_source_s, result.first_token_s, result.stream_s))
    ingest = summary(result.ingest_s)
    body = f"""{STREAMS} answer streams and {INGEST_REQUESTS} ingestion requests ({DOCS_PER_REQUEST} documents each) sent together to one `serve` process (2 cores, shared with the scripted model server and the clients); each answer is {len(ANSWER.deltas())} tokens at {ANSWER.rate:g} tokens/s from the scripted model server.

| measure | p50 | p95 | max |
| --- | ---: | ---: | ---: |
| time to first source | {fmt(ttfs["p50"] * 1000)} ms | {fmt(ttfs["p95"] * 1000)} ms | {fmt(max(result.first_source_s) * 1000)} ms |
| time to first token | {fmt(ttft["p50"] * 1000)} ms | {fmt(ttft["p95"] * 1000)} ms | {fmt(max(result.first_token_s) * 1000)} ms |
| whole answer | {fmt(total["p50"] * 1000)} ms | {fmt(total["p95"] * 1000)} ms | {fmt(max(result.stream_s) * 1000)} ms |
| one ingestion request (5 documents) | {fmt(ingest["p50"] * 1000)} ms | {fmt(ingest["p95"] * 1000)} ms | {fmt(max(result.ingest_s) * 1000)} ms |

{done} of {STREAMS} streams ended with `done`; {len(result.ready)} of {INGEST_REQUESTS * DOCS_PER_REQUEST} documents reported `ready`; all of it took {result.wall_s:.1f} s."""
    return Section(
        13,
        "Load: 200 streams and 20 ingestion requests at once",
        body,
        headline=[f"200 concurrent streams: first source p50 {fmt(ttfs['p50'] * 1000)} ms, all {done} done"],
    )


if __name__ == "__main__":
    run_alone(run, section, prefix="bench-load-")
