"""``make bench``: every benchmark section in one run, then ``bench/report.md`` and its charts.

The order keeps measurements apart: in-process sections first, then one app process at
a time (each on its own Chroma directory), the real model server last.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from app.engines.llama_server import LocalModelServer
from app.engines.model_file import local_model_file
from app.settings import LOCAL_MODEL_ALIAS, MEASURED_MIN_SCORE
from bench import (
    citations,
    concurrency,
    conversation,
    document_retrieval,
    embedding_backends,
    engine,
    grounding,
    hostile_content,
    ingestion,
    keys,
    knowledge_bases,
    llm_overhead,
    mcp,
    protocols,
    quality,
    retrieval,
    scale_out,
    stack_cost,
    summarization,
    ttfs,
)
from bench import load as load_scenario
from bench.corpus import questions
from bench.harness import Service, free_port, set_script, start_app, start_module
from bench.report import Section, write_report
from chains.embeddings import build_embeddings

OUT = Path(__file__).resolve().parent
MAX_TOKENS = 160


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def main(work: Path) -> list[Section]:
    logs = work / "logs"
    logs.mkdir(parents=True)
    sections: list[Section] = []

    log("8. citation tracker")
    sections.append(citations.section(citations.run(), OUT))

    log("7. ingestion: loading the embedding model")
    embeddings = build_embeddings("local")
    embeddings.embed_query("warm-up")
    corpora = []
    for chunks in (2_000, 20_000):
        log(f"7. ingestion: {chunks:,} chunks")
        corpora.append(await ingestion.ingest_corpus(embeddings, work / f"ingest-{chunks}", chunks))
        log(f"   {corpora[-1]['chunks_per_s']:.1f} chunks/s")
    log("7. ingestion: embedding modes")
    modes = ingestion.embedding_modes(embeddings)

    log("1. TTFS: building the 1k, 10k and 100k collections")
    paths = ttfs.build_collections(ingestion.collection(work / "ingest-20000"), work)
    qs = questions(60)
    floors = {label: ttfs.in_process_costs(embeddings, path, qs) for label, path in paths.items()}
    baseline_path = work / "baseline-1k"
    shutil.copytree(paths["1k"], baseline_path)

    scripted = start_module(
        "scripted-llm", "bench.scripted_llm", ready_path="/v1/models", logs=logs
    )
    apps: list[Service] = [scripted]
    try:
        await set_script(scripted, tokens=1, rate=0)
        results = {}
        single: dict[str, list[float]] = {}
        for label in ("10k", "100k", "1k"):
            log(f"1. TTFS at {label}")
            app = start_app(
                f"app-{label}",
                chroma=paths[label],
                llm_url=scripted.url + "/v1",
                model="scripted",
                logs=logs,
                collection="bench",
            )
            apps.append(app)
            results[label] = {**floors[label], **await ttfs.measure(app, qs)}
            if label == "10k":
                log("7. ingestion: one page, received → ready → queryable")
                single = await ingestion.time_to_queryable(app)
            if label != "1k":
                app.stop()
        sections.append(ttfs.section({k: results[k] for k in ("1k", "10k", "100k")}, OUT))
        sections.append(ingestion.section(corpora, modes, single, OUT))

        log("4. per-token cost")
        baseline = start_module(
            "baseline",
            "bench.baseline_app",
            ready_path="/docs",
            logs=logs,
            RAG_CHROMA_PATH=str(baseline_path),
            RAG_COLLECTION="bench",
            RAG_LLM_BASE_URL=scripted.url + "/v1",
            RAG_LLM_MODEL="scripted",
        )
        apps.append(baseline)
        costs = await stack_cost.per_token_cost(app, baseline, scripted)
        profile = await stack_cost.profile_sse(app, scripted)
        sections.append(stack_cost.cost_section(costs, profile, OUT))
        baseline.stop()

        log("5. concurrency")
        load = await concurrency.concurrency(app, scripted)
        cpu = costs["/rag/sse (ours)"]["cpu_us_per_token"]
        sections.append(concurrency.concurrency_section(load, cpu, OUT))
        app.stop()
        scripted.stop()

        log("9. local engine: first token, four users, prompt reuse")
        kb = await quality.knowledge_base(embeddings, work / "quality-kb")
        sections.append(engine.section(await engine.run(work, logs, kb), OUT))

        log("10. answer quality")
        sections.append(quality.section(await quality.run(work, logs, kb, embeddings)))

        log("11. retrieval quality, widening and progressive context")
        docs = await retrieval.run(work, logs, embeddings, MEASURED_MIN_SCORE)
        sections.append(retrieval.section(docs, OUT, MEASURED_MIN_SCORE))

        log("12. streaming summarization of a 20,000-character document")
        sections.append(summarization.section(await summarization.run(work, logs)))

        log("13. load: 200 streams and 20 ingestion requests at once")
        sections.append(load_scenario.section(await load_scenario.run(work, logs)))

        log("14. server mode: Chroma server, one worker vs two")
        sections.append(scale_out.section(await scale_out.run(work, logs)))

        log("15. conversations: follow-up search modes on git and Python docs dialogues")
        sections.append(conversation.section(await conversation.run(work, logs)))

        log("16. knowledge bases: listing and deleting at 10k chunks")
        sections.append(knowledge_bases.section(await knowledge_bases.run(work, logs)))

        log("17. protocol doors: cost per token against /rag/sse")
        sections.append(protocols.section(await protocols.run(work, logs)))

        log("18. live grounding: agreement with the offline judge, cost on the engine")
        sections.append(grounding.section(await grounding.run(work, logs)))

        log("19. scoped keys: the cost of the check per request")
        sections.append(keys.section(await keys.run(work, logs)))

        log("20. hostile content: parse overhead, bombs, injection follow-rate")
        sections.append(hostile_content.section(await hostile_content.run(work, logs)))

        log("21. the MCP door: search and ask latency against /rag/sse")
        sections.append(mcp.section(await mcp.run(work, logs)))

        log("22. finding the right document: headers, title boost, diversity, hybrid")
        sections.append(document_retrieval.section(await document_retrieval.run(work, logs)))

        log("23. embedding backends: PyTorch and ONNX Runtime, alone and beside the engine")
        sections.append(embedding_backends.section(await embedding_backends.run(work, logs)))

        log("2, 3, 6. against the local model server")
        # One slot: sections 2 and 3 pair each /rag/sse request with the same prompt sent
        # straight to the engine, which is only fair when both meet the same cached state;
        # with several slots the two can land on different slots (section 9 covers slots).
        default_model = local_model_file("Q4_0", work / "models")
        with LocalModelServer(
            model_path=default_model, port=free_port(), slots=1, log_path=logs / "llm-server.log"
        ) as llm:
            kb = start_app(
                "app-kb",
                chroma=work / "kb",
                llm_url=llm.base_url,
                model=LOCAL_MODEL_ALIAS,
                logs=logs,
                index_sample_docs="true",
                llm_max_tokens=str(MAX_TOKENS),
            )
            apps.append(kb)
            measured = await llm_overhead.run(kb, llm.base_url, LOCAL_MODEL_ALIAS, MAX_TOKENS)
            kb.stop()
        sections.extend(llm_overhead.sections(measured, OUT, MAX_TOKENS))
    finally:
        for service in apps:
            if service.popen.poll() is None:
                service.stop()
    return sections


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, collections)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="streaming-rag-bench-"))
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    try:
        sections = asyncio.run(main(work))
    except Exception:
        log(f"benchmark failed; logs are in {work / 'logs'}")
        raise
    elapsed = time.perf_counter() - t0
    settings = (
        "all-MiniLM-L6-v2 (CPU, 2 threads), embedded Chroma (cosine), SmolLM2-135M-Instruct "
        "converted to Q4_0 on llama.cpp's llama-server (2 threads, 4 slots) unless noted, `k=4` "
        f"unless noted, temperature 0, max_tokens {MAX_TOKENS} for the real model; uvicorn, one worker"
    )
    write_report(
        OUT / "report.md",
        sections,
        started=started.strftime("%Y-%m-%d %H:%M UTC"),
        elapsed_s=elapsed,
        settings=settings,
    )
    log(f"wrote {OUT / 'report.md'} in {elapsed / 60:.1f} minutes")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"work directory kept: {work}")
