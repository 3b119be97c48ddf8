"""Section 12: streaming summary of a 20,000-character document on the real engine.

Each run sends a different 20,000-character window of the GNU GPL v3 (Debian's
base-files; offsets :data:`OFFSETS`) inline to ``POST /summarize/sse`` of one app process
on the default engine (Q4_0, 4 slots), one after the other. The windows differ so that
no run meets prompts the engine has cached from an earlier one (the same document sent
again had its first summary token in about half the time). Timed at the client: the
first ``summary_chunk`` (a part is done), the first summary ``token``, the last event.

Run alone: ``python -m bench.summarization`` prints this section.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import fmt, local_engine_app, run_alone, summary, timed_payloads
from bench.report import Section

DOCUMENT = Path("/usr/share/common-licenses/GPL-3")
CHARS = 20_000
OFFSETS = (0, 5_000, 10_000)


async def _one(client: httpx.AsyncClient, text: str) -> dict[str, Any]:
    """One summary, timed at the client (seconds from sending the request)."""
    started = time.perf_counter()
    seen: dict[str, Any] = {}
    async for now, event in timed_payloads(client, "/summarize/sse", {"content": text}):
        seen.setdefault(event["type"], now)
        if event["type"] in ("summary_start", "summary_done", "error"):
            seen[event["type"] + "_event"] = event
    seen["end"] = time.perf_counter() - started
    return seen


async def run(work: Path, logs: Path) -> dict[str, Any]:
    """Every run's timings and the last run's start and done events."""
    document = await asyncio.to_thread(DOCUMENT.read_text)
    runs = []
    with local_engine_app("app-summary", work=work, logs=logs, chroma=work / "summary") as app:
        async with httpx.AsyncClient(base_url=app.url, timeout=600) as client:
            for offset in OFFSETS:
                runs.append(await _one(client, document[offset : offset + CHARS]))
    return {"runs": runs}


def section(r: dict[str, Any]) -> Section:
    runs = [x for x in r["runs"] if "error" not in x]
    errors = len(r["runs"]) - len(runs)
    start, done = runs[-1]["summary_start_event"], runs[-1]["summary_done_event"]
    first_part = summary([x["summary_chunk"] * 1000 for x in runs])
    first_token = summary([x["token"] * 1000 for x in runs])
    total = summary([x["end"] for x in runs])
    rate = summary([x["summary_done_event"]["metrics"]["tokens_per_sec"] or 0.0 for x in runs])
    windows = ", ".join(f"{o:,}" for o in OFFSETS)
    body = f"""Three different {CHARS:,}-character windows of the GNU GPL v3 (Debian's base-files, offsets {windows}), each inline to `POST /summarize/sse` once, one after the other ({errors} failed), on the default engine (Q4_0, 4 slots, so 4 parts at once): different text each time, so no run is answered from the engine's prompt cache (the same window sent again had its first summary token in about half the time). A window is split into **{start["total_chunks"]} parts** of at most 2,400 characters; the last run made {done["metrics"]["model_calls"]} model calls (parts, collapse steps, the final summary).

| | p50 | min | max |
| --- | ---: | ---: | ---: |
| first part summarized (ms) | {fmt(first_part["p50"], 0)} | {fmt(first_part["min"], 0)} | {fmt(max(x["summary_chunk"] for x in runs) * 1000, 0)} |
| first summary token (ms) | {fmt(first_token["p50"], 0)} | {fmt(first_token["min"], 0)} | {fmt(max(x["token"] for x in runs) * 1000, 0)} |
| whole summary (s) | {fmt(total["p50"])} | {fmt(total["min"])} | {fmt(max(x["end"] for x in runs))} |
| summary tokens/s | {fmt(rate["p50"])} | {fmt(rate["min"])} | |

The first summary token waits for every part: the summary is written from all of them. Progress shows before that, one `summary_chunk` per part."""
    headline = [
        f"Summary of a {CHARS:,}-character document: first summary token {fmt(first_token['p50'] / 1000)} s, "
        f"whole summary {fmt(total['p50'])} s (p50 of {len(runs)}; {start['total_chunks']} parts)."
    ]
    return Section(12, "Streaming summarization", body, None, headline)


if __name__ == "__main__":
    run_alone(run, section, prefix="bench-summary-")
