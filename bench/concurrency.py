"""Section 5: many concurrent streams on one worker, with their TTFS, TTFT and RSS.

The LLM is the scripted server (``bench.scripted_llm``) at a fixed token rate, so every
stream stays open while the others start.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    Service,
    StreamTiming,
    fmt,
    ms,
    read_rag_sse,
    set_script,
    summary,
    verdict,
)
from bench.report import Section, bar_chart

LEVELS = (50, 100, 200)
STREAM_TOKENS = 90
RATE = 30.0
RAMP_S = 1.0


async def concurrency(app: Service, scripted: Service) -> dict[int, dict[str, Any]]:
    await set_script(scripted, tokens=STREAM_TOKENS, rate=RATE)
    results = {}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    for level in LEVELS:
        rss = [app.rss_mb()]
        stop = asyncio.Event()

        async def sample_rss(stop: asyncio.Event = stop, rss: list[float] = rss) -> None:
            while not stop.is_set():
                rss.append(app.rss_mb())
                await asyncio.sleep(0.1)

        async def one(i: int, client: httpx.AsyncClient, level: int = level) -> StreamTiming:
            await asyncio.sleep(RAMP_S * i / level)
            return await read_rag_sse(
                client, {"question": f"stream {i}: what is backpressure?", "k": 4}
            )

        async with httpx.AsyncClient(base_url=app.url, timeout=60, limits=limits) as client:
            sampler = asyncio.create_task(sample_rss())
            started = time.perf_counter()
            timings = await asyncio.wait_for(
                asyncio.gather(
                    *(one(i, client) for i in random.Random(level).sample(range(level), level))
                ),
                timeout=120,
            )
            wall = time.perf_counter() - started
            stop.set()
            await sampler
        errors = [t for t in timings if t.error]
        good = [t for t in timings if not t.error]
        results[level] = {
            "completed": sum(1 for t in good if t.tokens == STREAM_TOKENS),
            "errors": len(errors),
            "error_kinds": sorted({str(t.error) for t in errors}),
            "lost_tokens": sum(STREAM_TOKENS - t.tokens for t in good),
            "ttfs": summary(ms([t.first_source for t in good if t.first_source is not None])),
            "ttft": summary(ms([t.first_token for t in good if t.first_token is not None])),
            "rss_peak_mb": max(rss),
            "rss_start_mb": rss[0],
            "wall_s": wall,
        }
    return results


def concurrency_section(
    r: dict[int, dict[str, Any]], cpu_us_per_token: float, out: Path
) -> Section:
    rows = "\n".join(
        f"| {level} | {v['completed']} | {v['errors']} | {v['lost_tokens']} | {fmt(v['ttfs']['p50'])} | "
        f"{fmt(v['ttfs']['p95'])} | **{fmt(v['ttfs']['p99'])}** | {fmt(v['ttft']['p50'])} | {fmt(v['ttft']['p95'])} | "
        f"{fmt(v['ttft']['p99'])} | {fmt(v['rss_peak_mb'], 0)} |"
        for level, v in r.items()
    )
    top = r[max(r)]
    ok = (
        top["completed"] == max(r)
        and top["errors"] == 0
        and top["lost_tokens"] == 0
        and top["ttfs"]["p99"] <= 250
    )
    chart = bar_chart(
        out / "concurrency.png",
        "Concurrent streams: TTFS and TTFT at the client (ms)",
        [f"{level} streams" for level in r],
        {
            "TTFS p50": [v["ttfs"]["p50"] for v in r.values()],
            "TTFS p99": [v["ttfs"]["p99"] for v in r.values()],
            "TTFT p50": [v["ttft"]["p50"] for v in r.values()],
            "TTFT p99": [v["ttft"]["p99"] for v in r.values()],
        },
        "ms",
        target=250,
    )
    kinds = "; ".join(
        f"{level}: {', '.join(v['error_kinds'])}" for level, v in r.items() if v["error_kinds"]
    )
    body = f"""
N streams on `/rag/sse` (`k=4`, distinct questions) started over {RAMP_S:g} s, each answered by
the scripted LLM with {STREAM_TOKENS} tokens at {RATE:g} tokens/s ({STREAM_TOKENS / RATE:g} s), so all N are open at
once. Completed = ended with `done` and every token. RSS is the app's peak, sampled every
100 ms (it was {fmt(top["rss_start_mb"], 0)} MB before the {max(r)}-stream run). The client, the
scripted server and the app share the machine's 2 cores.

| streams | completed | errors | lost tokens | TTFS p50 | TTFS p95 | TTFS p99 | TTFT p50 | TTFT p95 | TTFT p99 | RSS MB |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{rows}

{("Errors: " + kinds) if kinds else "No errors."}

Target: {max(r)} streams, zero errors, zero lost tokens, p99 TTFS ≤ 250 ms:
{verdict(ok, f"p99 TTFS {fmt(top['ttfs']['p99'])} ms, {top['errors']} errors, {top['lost_tokens']} lost tokens")}.

What limits it: CPU. At the app's measured {fmt(cpu_us_per_token)} µs per token (section 4),
{" ".join(f"{level} streams x {RATE:g} tokens/s need {fmt(level * RATE * cpu_us_per_token / 1e6, 2)} cores;" for level in r)}
the machine has 2, shared with the load generator and the client. A new stream's
retrieval (about 12 ms of embedding) waits behind the token work of the open ones, so
TTFS grows with the backlog; nothing is dropped (backpressure holds the tokens).
"""
    return Section(
        5,
        "Concurrency",
        body,
        chart,
        [
            f"{max(r)} concurrent streams: {top['completed']} completed, {top['errors']} errors, "
            f"{top['lost_tokens']} lost tokens, p99 TTFS {fmt(top['ttfs']['p99'])} ms (target ≤ 250 ms)."
        ],
    )
