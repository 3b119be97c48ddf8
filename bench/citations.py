"""Section 8: the citation tracker's speed on 1k, 10k and 100k-token answers."""

from __future__ import annotations

import random
import time
from pathlib import Path

from bench.harness import fmt
from bench.report import Section, bar_chart
from chains.citations import CitationTracker

SIZES = (1_000, 10_000, 100_000)


def answer_tokens(n: int) -> list[str]:
    """Model-like tokens: words, with a citation every ~25 tokens split across 2-4 tokens."""
    rnd = random.Random(n)
    words = [
        "The",
        " answer",
        " streams",
        " token",
        " by",
        " token",
        ",",
        " and",
        " sources",
        " come",
        " first",
        ".",
    ]
    tokens: list[str] = []
    while len(tokens) < n:
        tokens.extend(rnd.choice(words) for _ in range(rnd.randint(15, 30)))
        key = f" [doc-{rnd.randint(1, 12):03d}]"
        cuts = sorted(rnd.sample(range(1, len(key)), rnd.randint(1, 3)))
        tokens.extend(key[a:b] for a, b in zip([0, *cuts], [*cuts, len(key)], strict=True))
    return tokens[:n]


def run() -> dict[int, float]:
    sources = {f"doc-{i:03d}": f"chunk-{i}" for i in range(1, 9)}
    rates = {}
    for n in SIZES:
        tokens = answer_tokens(n)
        best = float("inf")
        for _ in range(3):
            tracker = CitationTracker(sources)
            started = time.perf_counter()
            for token in tokens:
                tracker.feed(token)
            best = min(best, time.perf_counter() - started)
        rates[n] = n / best
    return rates


def section(rates: dict[int, float], out: Path) -> Section:
    rows = "\n".join(
        f"| {n:,} | {fmt(rate, 0)} | {fmt(1e6 / rate, 2)} |" for n, rate in rates.items()
    )
    spread = max(rates.values()) / min(rates.values())
    chart = bar_chart(
        out / "citations.png",
        "Citation tracker: tokens/s by answer length",
        [f"{n:,} tokens" for n in rates],
        {"tokens/s": list(rates.values())},
        "tokens/s",
    )
    body = f"""
`CitationTracker.feed` over model-like answers: words, and a citation key every 15-30
tokens split across 2-4 tokens (`[`, `doc`, `-00`, `1]`-style), best of 3 runs.

| answer tokens | tokens/s | µs per token |
| ---: | ---: | ---: |
{rows}

Tokens/s varies by {fmt(spread, 2)}x between 1k and 100k tokens: the cost per token does not
grow with the answer, so the whole answer costs time linear in its length.
"""
    return Section(
        8,
        "Citation tracker",
        body,
        chart,
        [
            f"Citation tracker: {fmt(rates[SIZES[-1]] / 1e6, 2)} M tokens/s on a 100k-token answer "
            f"(linear: {fmt(spread, 2)}x spread across 1k-100k)."
        ],
    )
