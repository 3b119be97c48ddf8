"""Section 11, calibration: where ``RAG_MIN_SCORE`` separates answerable from absent questions.

For each candidate threshold, the whole widening search (:class:`~chains.widening.WideningRetriever`,
``k=4``: a larger k, then keyword search) runs on every question; a question is
*declined* when it finds nothing, which is the "not in the knowledge base" answer.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.harness import fmt
from bench.python_docs import ABSENT, QUESTIONS
from chains.keyword import KeywordRetriever
from chains.retriever import ScoredRetriever
from chains.widening import WideningRetriever

THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45)


def thresholds(vector: ScoredRetriever, keyword: KeywordRetriever) -> dict[str, Any]:
    """Best scores, and what each threshold declines after the whole widening search."""
    best = {
        "answerable": [vector._search(q.text, 1, None)[0].metadata["score"] for q in QUESTIONS],
        "absent": [vector._search(q, 1, None)[0].metadata["score"] for q in ABSENT],
    }
    declined = {}
    for threshold in THRESHOLDS:
        widening = WideningRetriever(vector=vector, keyword=keyword, min_score=threshold)
        declined[threshold] = {
            "answerable": sum(1 for q in QUESTIONS if not widening.invoke(q.text, k=4)),
            "absent": sum(1 for q in ABSENT if not widening.invoke(q, k=4)),
            "widened": sum(1 for s in best["answerable"] if s < threshold),
        }
    return {"best": best, "declined": declined}


def min_score_table(r: dict[str, Any], min_score: float) -> str:
    """The calibration as the report shows it: score spread, then one row per threshold."""
    best = r["best"]
    n, absent = len(QUESTIONS), len(ABSENT)
    declines = "\n".join(
        f"| {t:.2f}{' (default)' if t == min_score else ''} | {d['widened']}/{n} "
        f"| {d['answerable']}/{n} | {d['absent']}/{absent} |"
        for t, d in r["declined"].items()
    )
    return f"""**The widening threshold** (best cosine score of the first search; answerable p5 / median {fmt(_pct(best["answerable"], 5), 3)} / {fmt(statistics.median(best["answerable"]), 3)}, absent median / max {fmt(statistics.median(best["absent"]), 3)} / {fmt(max(best["absent"]), 3)}). Declined means the whole widening search (larger k, keyword) found nothing, so the answer is "not in the knowledge base" with no model call:

| `RAG_MIN_SCORE` | answerable questions that widen | answerable declined | absent declined |
| --- | ---: | ---: | ---: |
{declines}"""


def _pct(values: list[float], p: int) -> float:
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[p - 1]
