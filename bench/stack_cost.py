"""Section 4: the stack's own cost per token, against the bare baseline design.

The LLM is the scripted server (``bench.scripted_llm``), so the figures are the cost of
our process alone: its CPU time is read from the OS before and after each run.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    Service,
    fmt,
    read_rag_sse,
    set_script,
    verdict,
)
from bench.report import Section, bar_chart

TOKENS = 2000
STREAMS = 3


async def _count_lines(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], marker: str
) -> int:
    count = 0
    async with client.stream("POST", path, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith(marker):
                count += 1
    return count


ENDPOINTS = {
    "bare baseline (StreamingResponse)": (
        "baseline",
        "/naive",
        lambda q: {"question": q, "k": 4},
        "",
    ),
    "/rag/sse (ours)": ("app", "/rag/sse", lambda q: {"question": q, "k": 4}, "event: token"),
    "LangServe /rag/stream": (
        "app",
        "/rag/stream",
        lambda q: {"input": {"question": q, "k": 4}},
        "event: data",
    ),
    "LangServe /rag/stream_events": (
        "app",
        "/rag/stream_events",
        lambda q: {"input": {"question": q, "k": 4}},
        "event: data",
    ),
}


async def per_token_cost(
    app: Service, baseline: Service, scripted: Service
) -> dict[str, dict[str, float]]:
    await set_script(scripted, tokens=TOKENS, rate=0)
    services = {"app": app, "baseline": baseline}
    results = {}
    for name, (which, path, body, marker) in ENDPOINTS.items():
        service = services[which]
        async with httpx.AsyncClient(base_url=service.url, timeout=120) as client:
            await _count_lines(client, path, body("warm-up question"), marker)
            cpu = service.cpu_seconds()
            started = time.perf_counter()
            events = 0
            for i in range(STREAMS):
                events += await _count_lines(
                    client, path, body(f"question {i} about streaming"), marker
                )
            wall = time.perf_counter() - started
            cpu = service.cpu_seconds() - cpu
        tokens = TOKENS * STREAMS
        results[name] = {
            "cpu_us_per_token": cpu / tokens * 1e6,
            "tokens_per_s": tokens / wall,
            "events": events,
        }
    return results


BUCKETS = {
    "openai SDK: parsing each chunk": ("(openai/",),
    "LangChain: message chunks and callbacks": ("(langchain_core/", "(langchain_openai/"),
    "HTTP: reading from the LLM (httpx, httpcore, h11)": (
        "(httpx/",
        "(httpcore/",
        "(h11/",
        "(anyio/",
    ),
    "SSE framing and ASGI send (sse-starlette, Starlette, uvicorn)": (
        "(sse_starlette/",
        "(starlette/",
        "(fastapi/",
        "(uvicorn/",
    ),
    "ours (callbacks/, chains/, app/), with the event models it builds": (
        "(callbacks/",
        "(chains/",
        "(app/",
    ),
    "the asyncio event loop": ("(asyncio/base_events.py", "(asyncio/events.py", "(selectors.py"),
}
"""Library of a frame, by path. Unlisted frames (pydantic, json, asyncio queues) count for
the nearest listed caller: a ``TokenEvent`` our handler builds is our cost."""


async def profile_sse(app: Service, scripted: Service, seconds: int = 8) -> dict[str, float] | None:
    """Sample the app with py-spy during one long /rag/sse stream; CPU share per library.

    Each sample goes to the innermost frame that belongs to a bucket of :data:`BUCKETS`. ``None`` when
    py-spy cannot attach (it needs ptrace rights).
    """
    import subprocess
    import sys
    import tempfile

    await set_script(scripted, tokens=100_000, rate=0)
    raw = Path(tempfile.mkstemp(suffix=".txt")[1])
    spy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "-p",
        str(app.popen.pid),
        "-d",
        str(seconds),
        "-r",
        "200",
        "-f",
        "raw",
        "-o",
        str(raw),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    async with httpx.AsyncClient(base_url=app.url, timeout=120) as client:
        reader = asyncio.create_task(read_rag_sse(client, {"question": "profile", "k": 4}))
        await spy.wait()
        reader.cancel()
    return _share_by_library(raw) if spy.returncode == 0 else None


IDLE = ("(threading.py:331)", "(threading.py:629)", "(concurrent/futures/thread.py:81)")
"""Innermost frames of threads that are only waiting (thread pools, tqdm's monitor)."""


def _share_by_library(raw: Path) -> dict[str, float] | None:
    """Percent of py-spy's samples per bucket, from its raw (collapsed stacks) output."""
    text = raw.read_text()
    raw.unlink()
    counts = dict.fromkeys([*BUCKETS, "other (asyncio, interpreter)"], 0)
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack.endswith(IDLE):
            continue
        bucket = "other (asyncio, interpreter)"
        for frame in reversed(stack.split(";")):
            hit = next((b for b, keys in BUCKETS.items() if any(k in frame for k in keys)), None)
            if hit:
                bucket = hit
                break
        counts[bucket] += int(n)
    total = sum(counts.values())
    return {bucket: 100 * n / total for bucket, n in counts.items()} if total else None


def cost_section(
    r: dict[str, dict[str, float]], profile: dict[str, float] | None, out: Path
) -> Section:
    base = r["bare baseline (StreamingResponse)"]["cpu_us_per_token"]
    ours = r["/rag/sse (ours)"]["cpu_us_per_token"]
    events = r["LangServe /rag/stream_events"]["cpu_us_per_token"]
    rows = "\n".join(
        f"| {name} | {fmt(v['tokens_per_s'], 0)} | **{fmt(v['cpu_us_per_token'])}** | {fmt(v['cpu_us_per_token'] / base, 2)}x |"
        for name, v in r.items()
    )
    profile_table = (
        "| where | share of samples |\n| --- | ---: |\n"
        + "\n".join(
            f"| {b} | {fmt(v)} % |" for b, v in sorted(profile.items(), key=lambda x: -x[1])
        )
        if profile
        else "(py-spy could not attach to the app here; run `make bench` as a user with ptrace rights.)"
    )
    chart = bar_chart(
        out / "cpu_per_token.png",
        "App CPU per token (µs), scripted LLM streaming as fast as it can",
        [n.replace(" (StreamingResponse)", "").replace("LangServe ", "") for n in r],
        {"µs/token": [v["cpu_us_per_token"] for v in r.values()]},
        "CPU µs per token",
    )
    body = f"""
{STREAMS} streams of {TOKENS:,} tokens each per endpoint (after one warm-up stream), one at a
time, the scripted LLM sending tokens as fast as it can. CPU is the app process's user +
system time over the run, divided by the tokens the LLM sent; tokens/s is at the client.
The bare baseline is the naive design with nothing in between: retrieve, then forward
the OpenAI client's deltas through a FastAPI `StreamingResponse` (`bench/baseline_app.py`).

| endpoint | tokens/s | CPU µs per token | vs baseline |
| --- | ---: | ---: | ---: |
{rows}

Targets: `/rag/sse` within 1.5x of the baseline's CPU per token
{verdict(ours <= 1.5 * base, f"{fmt(ours / base, 2)}x")}; at least 3x cheaper than `/rag/stream_events`
{verdict(events >= 3 * ours, f"{fmt(events / ours, 2)}x cheaper")}.

Where `/rag/sse`'s CPU goes (py-spy samples of the app during one long stream, each
sample counted in the innermost library it was in):

{profile_table}

What limits it: the baseline pays for the openai SDK's parsing too. On top of it
`/rag/sse` spends {fmt(ours - base)} µs per token: LangChain turning each chunk into an
`AIMessageChunk` and dispatching `on_llm_new_token`, our `TokenEvent` and its JSON, and
one ASGI send per event through sse-starlette. LangServe's `/stream_events` pays for a
run tree and several events per token, which is why it costs {fmt(events / ours, 1)}x ours.
"""
    return Section(
        4,
        "Per-token cost of the stack",
        body,
        chart,
        [
            f"CPU per token: /rag/sse {fmt(ours)} µs, {fmt(ours / base, 2)}x the bare baseline "
            f"(target ≤ 1.5x) and {fmt(events / ours, 1)}x cheaper than /rag/stream_events (target ≥ 3x)."
        ],
    )
