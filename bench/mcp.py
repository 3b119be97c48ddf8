"""Section 21: the MCP door's latency against ``/rag/sse``, for the same questions.

One ``streaming-rag serve`` on the local engine (Q4_0, 4 slots) and the sample knowledge
base; the answerable questions of its question set (``app/sample_docs/questions.jsonl``).
Each question goes through the doors in a rotating order (so the engine's prompt cache
favours none of them), one at a time:

- ``/rag/sse``: time to the first ``source`` event, and to ``done``.
- MCP ``search`` (``k=4``): the tool call's wall time, from the ``mcp`` SDK's client,
  and the same call as one raw JSON-RPC POST read whole (the server's share).
- MCP ``ask``: time to the first progress notification ("N sources found"), and to
  the tool's result.

The MCP figures are what an agent pays: one SDK session over streamable HTTP (stateless,
so each call is one POST answered with server-sent events), the client's JSON parsing
and validation included. Ratios are taken per question, within the round.
"""

from __future__ import annotations

import time
from pathlib import Path
from statistics import median
from typing import Any

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

from app.evaluation.questions import load_questions
from bench.harness import Service, fmt, local_engine_app, read_rag_sse, run_alone
from bench.report import Section

ROUNDS = 2
MAX_TOKENS = 96
QUESTIONS = Path(__file__).resolve().parents[1] / "app" / "sample_docs" / "questions.jsonl"
DOORS = ("/rag/sse", "mcp search", "raw search", "mcp ask")
ACCEPT = {"Accept": "application/json, text/event-stream"}


async def _sse(http: httpx.AsyncClient, question: str) -> dict[str, float]:
    timing = await read_rag_sse(http, {"question": question})
    assert timing.error is None and timing.first_source is not None, timing.error
    return {"first_source": timing.first_source, "end": timing.end}


async def _search(session: ClientSession, question: str) -> dict[str, float]:
    started = time.perf_counter()
    result = await session.call_tool("search", {"query": question, "k": 4})
    assert not result.isError and result.structuredContent, result.content
    return {"end": time.perf_counter() - started}


async def _raw_search(http: httpx.AsyncClient, question: str) -> dict[str, float]:
    call = {"name": "search", "arguments": {"query": question, "k": 4}}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}
    started = time.perf_counter()
    response = await http.post("/mcp", json=body, headers=ACCEPT)
    assert response.status_code == 200 and '"isError":false' in response.text, response.text
    return {"end": time.perf_counter() - started}


async def _ask(session: ClientSession, question: str) -> dict[str, float]:
    started = time.perf_counter()
    first: list[float] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        if not first:
            first.append(time.perf_counter() - started)

    result = await session.call_tool("ask", {"question": question}, progress_callback=progress)
    assert not result.isError and first, result.content
    return {"first_source": first[0], "end": time.perf_counter() - started}


async def measure(app: Service) -> dict[str, Any]:
    """Each door's timings per question and round, the doors' order rotating."""
    questions = [q.question for q in load_questions(QUESTIONS) if q.gold]
    rows: list[dict[str, dict[str, float]]] = []
    async with (
        httpx.AsyncClient(base_url=app.url, timeout=120) as http,
        create_mcp_http_client() as mcp_http,
        streamable_http_client(f"{app.url}/mcp", http_client=mcp_http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        await _sse(http, "warm-up: what is streaming?")
        await _ask(session, "warm-up: what is streaming?")
        runs = {
            "/rag/sse": lambda q: _sse(http, q),
            "mcp search": lambda q: _search(session, q),
            "raw search": lambda q: _raw_search(http, q),
            "mcp ask": lambda q: _ask(session, q),
        }
        turn = 0
        for _ in range(ROUNDS):
            for question in questions:
                order = DOORS[turn % len(DOORS) :] + DOORS[: turn % len(DOORS)]
                turn += 1
                rows.append({door: await runs[door](question) for door in order})
    return {"rows": rows, "questions": len(questions)}


async def run(work: Path, logs: Path) -> dict[str, Any]:
    with local_engine_app(
        "mcp",
        work=work,
        logs=logs,
        chroma=work / "mcp-kb",
        index_sample_docs="true",
        llm_max_tokens=str(MAX_TOKENS),
    ) as app:
        return await measure(app)


def _ms(rows: list[dict[str, dict[str, float]]], door: str, key: str) -> list[float]:
    return [row[door][key] * 1000 for row in rows]


def section(r: dict[str, Any]) -> Section:
    """The report's section 21."""
    rows = r["rows"]
    sse_source, sse_end = _ms(rows, "/rag/sse", "first_source"), _ms(rows, "/rag/sse", "end")
    pairs = [
        ("`search` result", _ms(rows, "mcp search", "end"), "first source", sse_source),
        ("`search`, raw POST", _ms(rows, "raw search", "end"), "first source", sse_source),
        ("`ask` first progress", _ms(rows, "mcp ask", "first_source"), "first source", sse_source),
        ("`ask` result", _ms(rows, "mcp ask", "end"), "`done`", sse_end),
    ]
    lines = []
    ratios: dict[str, float] = {}
    for label, mcp, against, sse in pairs:
        diffs = [m - s for m, s in zip(mcp, sse, strict=True)]
        ratio = [m / s for m, s in zip(mcp, sse, strict=True)]
        ratios[label] = median(ratio)
        lines.append(
            f"| MCP {label} | {fmt(median(mcp))} | `/rag/sse` {against} | {fmt(median(sse))} | "
            f"{fmt(median(diffs))} ({fmt(min(diffs))} to {fmt(max(diffs))}) | "
            f"{median(ratio):.2f}x |"
        )
    table = "\n".join(lines)
    body = f"""`streaming-rag serve` on the local engine (Q4_0, 4 slots, max_tokens {MAX_TOKENS},
temperature 0) and the sample knowledge base; its {r["questions"]} answerable questions,
{ROUNDS} rounds, one request at a time, the doors in a rotating order per question.
MCP through the `mcp` SDK's own client (one session; stateless, one POST per call), and
`search` also as one raw JSON-RPC POST read whole, which leaves the client SDK out.
Milliseconds, median over {len(rows)} questions asked; the difference and the ratio are
taken per question:

| MCP | median ms | against | median ms | MCP minus it, median (range) | ratio |
| --- | ---: | --- | ---: | ---: | ---: |
{table}

`search` is the vector search alone (no prompt, no model), so it ends about when
`/rag/sse` sends its first source. The gap between the SDK's call and the raw POST is
the client's: the `mcp` 1.x `ClientSession` checks every structured result against the
tool's output schema with a one-shot `jsonschema.validate`, which re-checks the schema
itself each call (modelcontextprotocol/python-sdk#3133).

`ask` runs the same event stream as `/rag/sse`; its first progress notification ("N
sources found") is sent at the first event after the last source, and its result once
`done` arrived and was turned into one structured result.
"""
    return Section(
        21,
        "The MCP door: latency against /rag/sse",
        body,
        headline=[
            "MCP against /rag/sse, same questions, same run: "
            + ", ".join(f"{label.replace('`', '')} {ratio:.2f}x" for label, ratio in ratios.items())
        ],
    )


if __name__ == "__main__":
    run_alone(run, section, prefix="bench-mcp-")
