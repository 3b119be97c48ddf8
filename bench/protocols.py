"""Section 17: what each protocol door costs per token against ``/rag/sse``.

One ``streaming-rag serve`` process on the sample knowledge base and the scripted model
server (2,000 tokens per answer, sent at once), so the figure is our process's own CPU
time per token, read from the OS around each answer. The three doors take turns within
each round (the order rotates every round), so a drift of the machine's speed lands on
all three alike; the ratio of each round is taken within that round.
"""

from __future__ import annotations

import time
from pathlib import Path
from statistics import median
from typing import Any

import httpx

from bench.harness import Service, fmt, run_alone, set_script, start_app, start_module
from bench.report import Section

TOKENS = 4000
ROUNDS = 12
QUESTION = "What is backpressure?"

DOORS: dict[str, tuple[str, dict[str, Any], str]] = {
    "/rag/sse": ("/rag/sse", {"question": QUESTION}, "event: token"),
    "/v1/chat/completions": (
        "/v1/chat/completions",
        {"model": "rag", "stream": True, "messages": [{"role": "user", "content": QUESTION}]},
        '"content":"',
    ),
    "/ui/chat": (
        "/ui/chat",
        {"messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": QUESTION}]}]},
        '"type":"text-delta"',
    ),
}


def _answer(client: httpx.Client, path: str, body: dict[str, Any], marker: str) -> tuple[int, float]:
    """Read one answer; the token lines seen and the wall time."""
    started = time.perf_counter()
    tokens = 0
    with client.stream("POST", path, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            tokens += marker in line
    return tokens, time.perf_counter() - started


def measure(app: Service) -> dict[str, Any]:
    """CPU µs per token of each door, per round, the doors alternating."""
    names = list(DOORS)
    per_round: list[dict[str, float]] = []
    walls: dict[str, list[float]] = {name: [] for name in names}
    with httpx.Client(base_url=app.url, timeout=120) as client:
        for name in names:  # warm-up
            _answer(client, *DOORS[name])
        for r in range(ROUNDS):
            figures = {}
            for name in names[r % 3 :] + names[: r % 3]:
                cpu = app.cpu_seconds()
                tokens, wall = _answer(client, *DOORS[name])
                spent = app.cpu_seconds() - cpu
                assert tokens >= TOKENS, (name, tokens)  # every token arrived
                figures[name] = spent / TOKENS * 1e6
                walls[name].append(TOKENS / wall)
            per_round.append(figures)
    return {"rounds": per_round, "tokens_per_s": walls}


async def run(work: Path, logs: Path) -> dict[str, Any]:
    scripted = start_module("scripted-llm", "bench.scripted_llm", ready_path="/v1/models", logs=logs)
    try:
        await set_script(scripted, tokens=TOKENS, rate=0)
        app = start_app(
            "protocols",
            chroma=work / "protocols-kb",
            llm_url=f"{scripted.url}/v1",
            model="scripted",
            logs=logs,
            index_sample_docs="true",
        )
        try:
            return measure(app)
        finally:
            app.stop()
    finally:
        scripted.stop()


def section(r: dict[str, Any]) -> Section:
    """The report's section 17."""
    rounds = r["rounds"]
    base = "/rag/sse"
    rows = []
    for name in DOORS:
        cpu = [f[name] for f in rounds]
        ratios = [f[name] / f[base] for f in rounds]
        rows.append(
            f"| `{name}` | {fmt(median(cpu))} | {fmt(min(cpu))}-{fmt(max(cpu))} | "
            f"{median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) | "
            f"{fmt(median(r['tokens_per_s'][name]), 0)} |"
        )
    table = "\n".join(rows)
    ratio = {name: median(f[name] / f[base] for f in rounds) for name in DOORS}
    body = f"""One `streaming-rag serve` process on the sample knowledge base, the scripted model
sending {TOKENS:,} tokens per answer at once; {ROUNDS} rounds, each door once per round in a
rotating order. CPU time of the app process per token (µs), and each door's ratio to
`/rag/sse` within the same round (median, and the spread over rounds):

| door | CPU µs/token (median) | range | vs `/rag/sse` | tokens/s |
| --- | ---: | ---: | ---: | ---: |
{table}

The doors are the same event stream with another framing: each event becomes one
JSON object (`chat.completion.chunk`, or a UI message chunk) serialized with `json.dumps`
instead of the event model's own `model_dump_json`.
"""
    return Section(
        17,
        "Protocol doors: cost per token",
        body,
        headline=[
            "Protocol doors per token against /rag/sse (same run, rounds alternated): "
            f"/v1/chat/completions {ratio['/v1/chat/completions']:.2f}x, "
            f"/ui/chat {ratio['/ui/chat']:.2f}x"
        ],
    )


if __name__ == "__main__":
    run_alone(run, section, prefix="bench-protocols-")
