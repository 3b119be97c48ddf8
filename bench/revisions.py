"""Section 11, part 2: how often progressive mode would revise, and to what.

At the app's ``k=4`` and ``RAG_PROGRESSIVE_FIRST_K=1``, under two material-change rules
(wave 2 ranks another chunk first, the shipped rule; another document first), and
whether each revise moved the answer to a right or a wrong context.
"""

from __future__ import annotations

from bench.python_docs_questions import Question
from chains.progressive import HybridRetriever
from chains.retriever import ScoredRetriever


def revisions(
    vector: ScoredRetriever, wave_2: HybridRetriever, questions: list[Question]
) -> dict[str, dict[str, int]]:
    """At the app's k=4, first_k=1: how often wave 2 would revise, by rule, and to what.

    Right means the answer's passage is in the context the answer is written from: the
    draft's one chunk, or the revised answer's four.
    """
    out = {
        rule: dict.fromkeys(("revised", "fixed", "broke", "both_right", "both_wrong"), 0)
        for rule in ("chunk", "document")
    }
    verdict = {(False, True): "fixed", (True, False): "broke", (True, True): "both_right"}
    for question in questions:
        first = vector._search(question.text, 4, None)[0]
        ranked = wave_2.invoke(question.text, k=4)
        was = question.first_hit([first], passage=True) is not None
        now = question.first_hit(ranked, passage=True) is not None
        for rule, moved in (
            ("chunk", ranked[0].id != first.id),
            ("document", ranked[0].metadata["doc_id"] != first.metadata["doc_id"]),
        ):
            if moved:
                out[rule]["revised"] += 1
                out[rule][verdict.get((was, now), "both_wrong")] += 1
    return out


def _row(rule: str, counts: dict[str, int], n: int) -> str:
    return (
        f"| {rule} | {counts['revised']}/{n} | {counts['fixed']} | {counts['broke']} "
        f"| {counts['both_right']} | {counts['both_wrong']} |"
    )


def revise_table(counts: dict[str, dict[str, int]], n: int) -> str:
    """The report's table of :func:`revisions` over ``n`` questions."""
    return f"""How often progressive mode would revise (`k=4`, `RAG_PROGRESSIVE_FIRST_K=1`; right = the answer's passage is in what the answer is written from: the draft's one chunk, or the revised answer's four):

| material-change rule | revised | wrong → right | right → wrong | both right | both wrong |
| --- | ---: | ---: | ---: | ---: | ---: |
{_row("another chunk first (shipped)", counts["chunk"], n)}
{_row("another document first", counts["document"], n)}"""
