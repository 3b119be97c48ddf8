"""Section 14: server mode. Embedded vs server Chroma at 10k chunks; one worker vs two.

Part 1 serves the same 10k vectors from an embedded store and from a ``chroma run``
server, two ``serve`` processes side by side, and asks them alternately (A B A B) the
same questions one after the other; the scripted model answers one token, so only the
retrieval path differs. Part 2 runs section 13's load (200 streams and 20 ingestion
requests at once) against ``serve --workers 1`` and ``--workers 2`` on the Chroma
server, alternately, twice each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.engines.chroma_server import ChromaServer
from bench.corpus import copy_collection, questions
from bench.harness import (
    VENV_BIN,
    Service,
    fmt,
    free_port,
    ms,
    read_rag_sse,
    run_alone,
    set_script,
    start,
    start_module,
    summary,
)
from bench.load import ANSWER, STREAMS, LoadResult, run_load
from bench.report import Section
from chains.store import build_chroma_client

CHUNKS = 10_000
QUESTIONS = 100
WARMUP = 10
ROUNDS = 3


@dataclass
class ScaleOutResult:
    ttfs_s: dict[str, list[float]] = field(default_factory=dict)
    retrieval_ms: dict[str, list[float]] = field(default_factory=dict)
    loads: dict[str, list[LoadResult]] = field(default_factory=dict)
    worker_rss_mb: dict[str, list[float]] = field(default_factory=dict)
    """Each API process's resident memory after a load run (the parent too, with workers)."""
    cpus: int = 2


def _serve(name: str, logs: Path, *args: str, **env: str) -> Service:
    port = free_port()
    settings = {
        "RAG_LLM_MODEL": "scripted",
        "RAG_LLM_TEMPERATURE": "0",
        **{f"RAG_{k.upper()}": v for k, v in env.items()},
    }
    argv = [str(VENV_BIN / "streaming-rag"), "serve", "--port", str(port), *args]
    return start(name, argv, port=port, env=settings, ready_path="/health", logs=logs)


async def _ttfs(apps: dict[str, Service], result: ScaleOutResult) -> None:
    """Sequential questions, each asked of every app in turn."""
    clients = {label: httpx.AsyncClient(base_url=app.url, timeout=30) for label, app in apps.items()}
    try:
        for i, question in enumerate(questions(WARMUP + QUESTIONS, seed=14)):
            for label, client in clients.items():
                timing = await read_rag_sse(client, {"question": question, "k": 4}, keep_done=True)
                if timing.error or timing.first_source is None:
                    raise RuntimeError(f"{label}: {timing.error}")
                if i >= WARMUP:
                    result.ttfs_s.setdefault(label, []).append(timing.first_source)
                    result.retrieval_ms.setdefault(label, []).append(
                        timing.done["metrics"]["retrieval_ms"]
                    )
    finally:
        for client in clients.values():
            await client.aclose()


async def run(work: Path, logs: Path) -> ScaleOutResult:
    result = ScaleOutResult()
    scripted = start_module("scripted-llm", "bench.scripted_llm", ready_path="/v1/models", logs=logs)
    chroma = ChromaServer(path=work / "chroma-server", port=free_port(), log_path=logs / "chroma.log")
    chroma.start()
    # min_score 0: random vectors score low, and widening is not what is measured here.
    llm = {"llm_base_url": f"{scripted.url}/v1", "index_sample_docs": "false", "min_score": "0"}
    server = {"chroma_host": "127.0.0.1", "chroma_port": str(chroma.port)}
    try:
        copy_collection(None, work / "embedded", "bench", 0, synthetic=CHUNKS)
        copy_collection(None, build_chroma_client(host="127.0.0.1", port=chroma.port), "bench", 0, synthetic=CHUNKS)
        await set_script(scripted, tokens=1, rate=0)
        apps = {
            "embedded": _serve("so-embedded", logs, chroma_path=str(work / "embedded"), collection="bench", **llm),
            "server": _serve("so-server", logs, chroma_path=str(work / "x"), collection="bench", **llm, **server),
        }
        try:
            await _ttfs(apps, result)
        finally:
            for app in apps.values():
                app.stop()

        await set_script(scripted, tokens=len(ANSWER.deltas()), rate=ANSWER.rate)
        load = {**llm, **server, "index_sample_docs": "true"}
        for workers in ("1", "2") * ROUNDS:
            label = f"{workers} worker" + ("s" if workers != "1" else "")
            app = _serve(
                f"so-workers-{workers}", logs, "--workers", workers,
                chroma_path=str(work / f"w{workers}"), collection=f"load-{workers}", **load,
            )
            try:
                result.loads.setdefault(label, []).append(await run_load(app.url))
                tree = [app.process, *app.process.children(recursive=True)]
                result.worker_rss_mb[label] = [p.memory_info().rss / 2**20 for p in tree]
            finally:
                app.stop()
    finally:
        chroma.stop()
        scripted.stop()
    return result


def section(result: ScaleOutResult) -> Section:
    ttfs = {label: summary(ms(values)) for label, values in result.ttfs_s.items()}
    retrieval = {label: summary(values) for label, values in result.retrieval_ms.items()}
    rows = "\n".join(
        f"| {label} | {fmt(ttfs[label]['p50'])} | {fmt(ttfs[label]['p95'])} | {fmt(retrieval[label]['p50'])} |"
        for label in ttfs
    )
    load_rows = []
    for label, runs in result.loads.items():
        for n, run in enumerate(runs, 1):
            done = sum(1 for events in run.streams if events and events[-1]["type"] == "done")
            first, token, whole = (summary(ms(v)) for v in (run.first_source_s, run.first_token_s, run.stream_s))
            ingest = summary(ms(run.ingest_s))
            load_rows.append(
                f"| {label} (run {n}) | {fmt(first['p50'])} | {fmt(first['p95'])} | {fmt(token['p50'])} | "
                f"{fmt(whole['p50'])} | {fmt(ingest['p50'])} | {done}/{STREAMS} | {run.wall_s:.1f} s |"
            )
    gap = ttfs["server"]["p50"] - ttfs["embedded"]["p50"]
    memory = "; ".join(
        f"{label}: " + " + ".join(f"{mb:,.0f}" for mb in sizes) + " MB"
        for label, sizes in result.worker_rss_mb.items()
    )
    body = f"""**Embedded vs server Chroma**, {CHUNKS:,} chunks, `k=4`, {QUESTIONS} questions asked of both apps in turn (A B A B) after {WARMUP} warm-up questions each; time to first source at the HTTP client:

| store | TTFS p50 | TTFS p95 | server retrieval p50 |
| --- | ---: | ---: | ---: |
{rows}

(ms.) The Chroma server costs {fmt(gap)} ms per question at p50: one HTTP round trip on loopback for the query, which `chroma run` answers from the same Rust engine the embedded client uses.

**One worker vs two** under section 13's load ({STREAMS} streams of {len(ANSWER.deltas())} tokens at {ANSWER.rate:g} tokens/s and 20 ingestion requests of 5 documents, all at once), each against the Chroma server, runs alternated:

| API | first source p50 | first source p95 | first token p50 | whole answer p50 | ingestion request p50 | done | wall |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(load_rows)}

(ms.) This machine has {result.cpus} cores, shared by the workers, the Chroma server, the scripted model server and the 220 clients. Resident memory of the API processes after the last run: {memory}; each worker holds its own embedding model."""
    return Section(
        14,
        "Server mode: Chroma server, several workers",
        body,
        headline=[
            f"Chroma server vs embedded at 10k chunks: TTFS p50 {fmt(ttfs['server']['p50'])} vs "
            f"{fmt(ttfs['embedded']['p50'])} ms"
        ],
    )


if __name__ == "__main__":
    run_alone(run, section, prefix="bench-scale-out-")
