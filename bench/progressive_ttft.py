"""Section 11, live part: first token with and without progressive mode, on the real engine.

Both modes ask the same questions through ``/rag/sse`` of one app process, alternating
question by question (A B, then B A), so neither meets a warmer engine or cache. The
question sets are asked one after the other; revises are counted per set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bench.harness import local_engine_app, read_rag_sse, summary
from bench.python_docs_questions import Question

ANSWER_TOKENS = 48
"""Enough to see the first token and a revise; the whole answer's length does not matter."""


async def run(
    work: Path,
    logs: Path,
    chroma: Path,
    collection: str,
    min_score: float,
    sets: dict[str, list[Question]],
) -> dict[bool, dict[str, Any]]:
    """Client first-token time and done metrics per mode, alternating, on the real engine."""
    runs: dict[bool, list[Any]] = {False: [], True: []}
    asked = [(name, question) for name, questions in sets.items() for question in questions]
    env = {"collection": collection, "llm_max_tokens": str(ANSWER_TOKENS)}
    with local_engine_app(
        "app-docs", work=work, logs=logs, chroma=chroma, min_score=str(min_score), **env
    ) as app:
        async with httpx.AsyncClient(base_url=app.url, timeout=120) as client:
            await read_rag_sse(client, {"question": "warm-up", "k": 4})
            for i, (_, question) in enumerate(asked):
                for progressive in (i % 2 == 1, i % 2 == 0):  # A B, then B A
                    body = {"question": question.text, "k": 4, "progressive": progressive}
                    runs[progressive].append(await read_rag_sse(client, body, keep_done=True))
    names = [name for name, _ in asked]
    return {mode: _mode_figures(timings, names) for mode, timings in runs.items()}


def _mode_figures(timings: list[Any], names: list[str]) -> dict[str, Any]:
    answered = [
        (name, t)
        for name, t in zip(names, timings, strict=True)
        if t.error is None and t.first_token is not None
    ]
    good = [t for _, t in answered]
    metrics = [t.done["metrics"] for t in good]
    return {
        "n": len(timings),
        "errors": len(timings) - len(good),
        "ttft": summary([t.first_token * 1000 for t in good]),
        "final_ttft": summary([(t.final_first_token or t.first_token) * 1000 for t in good]),
        "total": summary([t.end * 1000 for t in good]),
        "revised": sum(1 for t in good if t.revises),
        "by_set": {
            name: {
                "answered": sum(1 for n, _ in answered if n == name),
                "revised": sum(1 for n, t in answered if n == name and t.revises),
            }
            for name in dict.fromkeys(names)
        },
        "wave_adds": summary(
            [m["last_wave_ms"] - m["ttfs_ms"] for m in metrics if m.get("last_wave_ms") is not None]
        ),
    }
