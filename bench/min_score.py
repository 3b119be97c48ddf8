"""Section 11, calibration: where ``RAG_MIN_SCORE`` separates answerable from absent questions.

For each candidate threshold, the whole widening search (:class:`~chains.widening.WideningRetriever`,
``k=4``: a larger k, then keyword search) runs on every question; a question is
*declined* when it finds nothing, which is the "not in the knowledge base" answer.

It runs on two corpora: the Python documentation (:mod:`bench.python_docs`) and the
sample knowledge base a fresh install answers from, whose absent questions include
some on its own topics that none of its documents answers (:data:`NEAR_ABSENT`), the
hard case for a threshold. ``python -m bench.min_score`` runs the sample one alone.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from bench.harness import fmt
from chains.keyword import KeywordRetriever
from chains.retriever import ScoredRetriever
from chains.title_boost import MEASURED_TITLE_WEIGHT
from chains.widening import WideningRetriever

THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45)

NEAR_ABSENT = [
    "Explain reranking briefly.",
    "What is a cross-encoder reranker?",
    "How does query expansion work?",
    "What is GraphRAG?",
    "How do I fine-tune an embedding model?",
    "What is product quantization of vectors?",
    "How does prompt injection through documents work?",
    "What is speculative decoding?",
    "How does a knowledge graph help retrieval?",
    "What is the context window of GPT-4?",
    "How do I shard a Chroma collection across machines?",
    "What is ColBERT late interaction?",
]
"""On the sample knowledge base's topics (retrieval, models, Chroma), in none of its
documents: checked by hand against the 24 documents."""


def thresholds(
    vector: ScoredRetriever,
    keyword: KeywordRetriever,
    answerable: Sequence[str],
    absent: Sequence[str],
    near: Sequence[str] = (),
) -> dict[str, Any]:
    """Best scores, and what each threshold declines after the whole widening search.

    ``near`` names the absent questions counted apart, as well (those on the corpus's
    own topics).
    """
    vector.warm()  # the document cards, before the first score is read
    best = {
        "answerable": [vector._search(q, 1, None)[0].metadata["score"] for q in answerable],
        "absent": [vector._search(q, 1, None)[0].metadata["score"] for q in absent],
    }
    declined = {}
    for threshold in THRESHOLDS:
        widening = WideningRetriever(vector=vector, keyword=keyword, min_score=threshold)
        absent_declined = [q for q in absent if not widening.invoke(q, k=4)]
        declined[threshold] = {
            "answerable": sum(1 for q in answerable if not widening.invoke(q, k=4)),
            "absent": len(absent_declined),
            "near": sum(1 for q in absent_declined if q in near),
            "widened": sum(1 for s in best["answerable"] if s < threshold),
        }
    return {"best": best, "declined": declined, "near": len(near)}


async def sample_kb(
    embeddings: Embeddings, path: Path, title_weight: float = MEASURED_TITLE_WEIGHT
) -> dict[str, Any]:
    """The calibration on the sample knowledge base: the quality questions plus NEAR_ABSENT."""
    from bench.quality import QUESTIONS, knowledge_base

    store = (await knowledge_base(embeddings, path)).vectorstore
    vector, keyword = (
        ScoredRetriever(vectorstore=store, k=4, title_weight=title_weight),
        KeywordRetriever(vectorstore=store, k=4),
    )
    answerable = [q for q, expected in QUESTIONS if expected is not None]
    off_topic = [q for q, expected in QUESTIONS if expected is None]
    return thresholds(vector, keyword, answerable, off_topic + NEAR_ABSENT, NEAR_ABSENT)


def min_score_table(r: dict[str, Any], min_score: float, corpus: str = "Python docs") -> str:
    """The calibration as the report shows it: score spread, then one row per threshold."""
    best = r["best"]
    n, absent = len(best["answerable"]), len(best["absent"])
    near = r["near"]
    declines = "\n".join(
        f"| {t:.2f}{' (default)' if t == min_score else ''} | {d['widened']}/{n} "
        f"| {d['answerable']}/{n} | {d['absent']}/{absent} |"
        + (f" {d['near']}/{near} |" if near else "")
        for t, d in r["declined"].items()
    )
    near_head = " of which on its topics |" if near else ""
    near_rule = " ---: |" if near else ""
    return f"""**The widening threshold, {corpus}** (best cosine score of the first search; answerable p5 / median {fmt(_pct(best["answerable"], 5), 3)} / {fmt(statistics.median(best["answerable"]), 3)}, absent median / max {fmt(statistics.median(best["absent"]), 3)} / {fmt(max(best["absent"]), 3)}). Declined means the whole widening search (larger k, keyword) found nothing, so the answer is "not in the knowledge base" with no model call:

| `RAG_MIN_SCORE` | answerable questions that widen | answerable declined | absent declined |{near_head}
| --- | ---: | ---: | ---: |{near_rule}
{declines}"""


def _pct(values: list[float], p: int) -> float:
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[p - 1]


if __name__ == "__main__":
    import asyncio
    import tempfile

    from app.settings import MEASURED_MIN_SCORE
    from chains.embeddings import build_embeddings

    with tempfile.TemporaryDirectory(prefix="bench-min-score-") as tmp:
        measured = asyncio.run(sample_kb(build_embeddings("local"), Path(tmp)))
        print(min_score_table(measured, MEASURED_MIN_SCORE, "sample knowledge base"))
