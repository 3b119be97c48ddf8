"""Section 9: the local engine, llama.cpp's ``llama-server``: first token, four users, reuse.

Engines run side by side, each behind its own app on its own copy of the sample
knowledge base: the bundled model converted to Q4_0 and to Q8_0, the bundled Q4_1 file as
shipped, all on the same engine with 4 slots, and the default with one slot (how a
one-at-a-time server behaves). Every question is new to the engine it is asked of, so
only the fixed instructions that open each prompt can come from its cache; the order in
which the engines are asked rotates with each question, so all see the same noise.
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path
from typing import Any

import httpx

from app.engines.llama_server import LocalModelServer
from app.engines.model_file import local_model_file
from app.settings import LOCAL_MODEL_ALIAS, Settings
from bench.harness import Service, StreamTiming, fmt, free_port, ms, read_rag_sse, start_app
from bench.llm_overhead import QUESTIONS as MORE_QUESTIONS
from bench.llm_overhead import messages_for
from bench.quality import QUESTIONS as QUALITY_QUESTIONS
from bench.report import Section, bar_chart
from chains.retriever import ScoredRetriever

K = 4
MAX_TOKENS = 160
DEFAULT = Settings(_env_file=None).local_llm_quant  # type: ignore[call-arg]
QUANTS = [DEFAULT, *(q for q in ("Q4_0", "Q8_0", "Q4_1") if q != DEFAULT)]
ONE_SLOT = f"{DEFAULT}, 1 slot"
FRESH = list(dict.fromkeys([q for q, _ in QUALITY_QUESTIONS] + MORE_QUESTIONS))
"""Distinct questions; each is asked of an engine at most once, so none is cached whole."""
LONE, BURSTS, REUSE = FRESH[:12], [FRESH[12:16], FRESH[16:20], FRESH[20:24]], FRESH[24:34]

PREVIOUS = (
    "`llama_cpp.server` (the previous engine, previous report and issue 12): first token "
    "1.6-2.1 s for a 4-source question; three questions sent together got first tokens at "
    "1.6 s, 6.2 s and 11.0 s"
)


def engine(name: str, model: Path, slots: int, logs: Path) -> LocalModelServer:
    server = LocalModelServer(
        model_path=model, port=free_port(), slots=slots, log_path=logs / f"{name}.log"
    )
    server.start()
    return server


def app_for(name: str, server: LocalModelServer, work: Path, logs: Path) -> Service:
    return start_app(
        name,
        chroma=work / f"{name}-kb",
        llm_url=server.base_url,
        model=LOCAL_MODEL_ALIAS,
        logs=logs,
        index_sample_docs="true",
        llm_max_tokens=str(MAX_TOKENS),
    )


async def ask(app: Service, question: str) -> StreamTiming:
    async with httpx.AsyncClient(base_url=app.url, timeout=180) as client:
        timing = await read_rag_sse(client, {"question": question, "k": K})
    if timing.error or timing.first_token is None:
        raise RuntimeError(f"{app.name}: {question!r} failed: {timing.error}")
    return timing


async def reuse(server: LocalModelServer, retriever: ScoredRetriever) -> list[dict[str, int]]:
    """Prompt tokens each fresh question reuses from the cache and must process."""
    out = []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as llm:
        for question in REUSE:
            docs = await retriever.ainvoke(question, k=K)
            sources = [
                {"content": d.page_content, "metadata": d.metadata, "cite": d.metadata["cite"]}
                for d in docs
            ]
            body = {
                "model": LOCAL_MODEL_ALIAS,
                "messages": messages_for(question, sources),
                "max_tokens": 1,
                "temperature": 0.0,
            }
            timings = (await llm.post("/chat/completions", json=body)).json()["timings"]
            out.append({"reused": timings["cache_n"], "processed": timings["prompt_n"]})
    return out


async def run(work: Path, logs: Path, retriever: ScoredRetriever) -> dict[str, Any]:
    models = work / "models"
    servers = {q: engine(f"engine-{q}", local_model_file(q, models), 4, logs) for q in QUANTS}
    servers[ONE_SLOT] = engine("engine-1-slot", local_model_file(DEFAULT, models), 1, logs)
    apps: dict[str, Service] = {}
    try:
        for name, server in servers.items():
            apps[name] = app_for(
                f"app-{name.replace(', ', '-').replace(' ', '')}", server, work, logs
            )
        lone: dict[str, list[float]] = {q: [] for q in QUANTS}
        for i, question in enumerate(LONE):
            for name in QUANTS[i % len(QUANTS) :] + QUANTS[: i % len(QUANTS)]:
                lone[name].append((await ask(apps[name], question)).first_token or 0.0)
        bursts: dict[str, list[list[StreamTiming]]] = {DEFAULT: [], ONE_SLOT: []}
        for questions in BURSTS:
            for name in bursts:
                bursts[name].append(
                    list(await asyncio.gather(*(ask(apps[name], q) for q in questions)))
                )
        reused = await reuse(servers[DEFAULT], retriever)
    finally:
        for app in apps.values():
            app.stop()
        for server in servers.values():
            server.stop()
    return {"lone": lone, "bursts": bursts, "reuse": reused}


def _burst_row(
    name: str, bursts: list[list[StreamTiming]], lone_p50: float
) -> tuple[str, bool, float]:
    lines, ok, worst = [], True, 0.0
    for i, burst in enumerate(bursts, start=1):
        firsts = sorted(t.first_token or 0.0 for t in burst)
        ends = sorted(t.end for t in burst)
        before = firsts[-1] < ends[0]
        ok &= before
        worst = max(worst, firsts[-1] / lone_p50)
        lines.append(
            f"| {name} | {i} | {', '.join(fmt(x * 1000, 0) for x in firsts)} | "
            f"{fmt(ends[0] * 1000, 0)} | {'yes' if before else '**no**'} | "
            f"{fmt(firsts[-1] / lone_p50, 2)}x |"
        )
    return "\n".join(lines), ok, worst


def section(r: dict[str, Any], out_dir: Path) -> Section:
    p50 = {name: statistics.median(values) for name, values in r["lone"].items()}
    p95 = {name: statistics.quantiles(values, n=20)[18] for name, values in r["lone"].items()}
    lone = p50[DEFAULT]
    default_rows, default_ok, default_worst = _burst_row(
        f"{DEFAULT}, 4 slots", r["bursts"][DEFAULT], lone
    )
    single_rows, _, single_worst = _burst_row(ONE_SLOT, r["bursts"][ONE_SLOT], lone)
    reused = [x["reused"] for x in r["reuse"]]
    processed = [x["processed"] for x in r["reuse"]]
    chart = bar_chart(
        out_dir / "engine.png",
        "First token through /rag/sse, k=4, new question (ms)",
        ["p50", "p95"],
        {name: [p50[name] * 1000, p95[name] * 1000] for name in p50},
        "ms",
        target=500,
    )
    rows = "\n".join(
        f"| {name}{' (default)' if name == DEFAULT else ''}{' as shipped' if name == 'Q4_1' else ''} "
        f"| {'**' if name == DEFAULT else ''}{fmt(p50[name] * 1000, 0)}{'**' if name == DEFAULT else ''} "
        f"| {fmt(p95[name] * 1000, 0)} | {', '.join(fmt(x, 0) for x in ms(r['lone'][name]))} |"
        for name in QUANTS
    )
    verdict_ttft = "**met**" if lone <= 0.5 else "**missed**"
    verdict_users = "**met**" if default_ok and default_worst <= 3 else "**missed**"
    body = f"""
{len(LONE)} questions, each new to the engine, `k={K}`, through `/rag/sse` at the HTTP
client, asked of each engine in rotating order. All are `llama-server` with 4 slots and
flash attention; only the model file differs.

| model file | first token p50 ms | p95 ms | per question (ms) |
| --- | ---: | ---: | --- |
{rows}

Target p50 ≤ 500 ms: {verdict_ttft} ({fmt(lone * 1000, 0)} ms with the default {DEFAULT};
the bundled Q4_1 takes {fmt(p50["Q4_1"] / lone, 2)}x as long). For comparison, {PREVIOUS}.

**Four users at once.** Four new questions sent together, three times, to the default
engine and to the same engine with one slot. "Before" means every first token arrived
before any of the four answers ended. Ratio: the slowest first token over a lone user's
p50 above ({fmt(lone * 1000, 0)} ms).

| engine | burst | first tokens (ms) | first answer ended (ms) | all first tokens before any end | slowest / lone |
| --- | ---: | --- | ---: | --- | ---: |
{default_rows}
{single_rows}

Target, every first token before any answer ends and the slowest ≤ 3x a lone user's:
{verdict_users} (worst {fmt(default_worst, 2)}x with 4 slots; {fmt(single_worst, 2)}x with one
slot, where users wait behind whole answers). All four prompts must be processed before
the last first token, and on these 2 cores llama.cpp processes four prompts at once no
faster per token than one (measured 3.2-4.0x the time of one, by llama-server's own
timings): that is the floor of this ratio here.

**Prompt prefix reuse.** For {len(reused)} new questions sent straight to the default engine
(the chain's exact messages, `max_tokens` 1): prompt tokens taken from the cache
{fmt(statistics.median(reused), 0)} (median; range {min(reused)}-{max(reused)}), processed
{fmt(statistics.median(processed), 0)} (range {min(processed)}-{max(processed)}). The fixed
instructions open every prompt byte for byte, so their state is reused; the sources and
the question are new and must be processed.
"""
    return Section(
        9,
        "Local engine: first token, four users, prompt reuse",
        body,
        chart,
        [
            f"First token, new question, k=4: {fmt(lone * 1000, 0)} ms p50 on the default "
            f"{DEFAULT} engine ({fmt(p50['Q4_1'] * 1000, 0)} ms with the bundled Q4_1; "
            "target ≤ 500 ms).",
            f"Four users at once: every first token before any answer ended: "
            f"{'yes' if default_ok else 'no'}; slowest first token {fmt(default_worst, 2)}x a lone "
            f"user's (target ≤ 3x; {fmt(single_worst, 2)}x with one slot).",
        ],
    )
