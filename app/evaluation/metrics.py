"""Scores of one answer, read from its events, and a run's totals with bootstrap intervals.

Retrieval is scored by document: the retrieved chunks, in the order they arrived
(wave 1, then later waves), become a ranking of distinct documents, and each gold item
takes the rank of the first document that holds it. Citations are scored against the
gold documents through the ``cite`` key of each source. A decline is the answer that
says the knowledge base has nothing (no model call) or the model's "the sources do not
say". Times are measured by the client from the request: what a user waits for.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.evaluation.questions import EvalQuestion, Gold
from chains.events import RagEvent, Source
from chains.prompt import NO_ANSWER
from chains.rag import NOT_IN_KNOWLEDGE_BASE

NDCG_AT = 10
BOOTSTRAP_DRAWS = 2000
TIMES = ("ttfs", "ttft", "first_grounded", "total")
"""Client-side milliseconds from the request to the first source, the first token, the
first sentence the sources support, and the end of the answer."""

TimedEvent = tuple[float, RagEvent]
"""An event and the milliseconds from the request to its arrival."""


@dataclass
class QuestionResult:
    """What one question's answer scored; ``None`` where a measure does not apply."""

    id: str
    question: str
    must_decline: bool
    k: int
    error: str | None = None
    documents: list[str] = field(default_factory=list)
    """The retrieved documents, best first."""
    ranks: list[int | None] = field(default_factory=list)
    """Each gold item's document rank (1 = first), None when not retrieved."""
    cited: list[str] = field(default_factory=list)
    invalid_citations: list[str] = field(default_factory=list)
    answer: str = ""
    prompt_tokens: int | None = None
    """The engine's count of the answer's prompt: read before the first token."""
    completion_tokens: int | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    times_ms: dict[str, float | None] = field(default_factory=dict)


def retrieved(events: Sequence[TimedEvent]) -> list[Source]:
    """The chunks an answer was given, in arrival order: wave 1, then later waves."""
    sources: list[Source] = []
    for _, event in events:
        if event.type == "source":
            sources.append(event)
        elif event.type == "context_update":
            sources.extend(event.sources)
    return sources


def _document_of(chunk: Source) -> str:
    return chunk.doc_id or chunk.id or chunk.cite


def score(question: EvalQuestion, events: Sequence[TimedEvent], k: int) -> QuestionResult:
    """Score one answer from its timed events, asked with top ``k``."""
    result = QuestionResult(question.id, question.question, question.must_decline, k)
    times: dict[str, float | None] = dict.fromkeys(TIMES)
    for ms, event in events:
        if event.type == "source" and times["ttfs"] is None:
            times["ttfs"] = ms
        elif event.type == "token" and times["ttft"] is None:
            times["ttft"] = ms
        elif event.type == "grounding" and event.supported and times["first_grounded"] is None:
            times["first_grounded"] = ms
        elif event.type == "done":
            times["total"] = ms
            result.answer = event.answer
            result.prompt_tokens = event.metrics.prompt_tokens
            result.completion_tokens = event.metrics.completion_tokens
            result.cited, result.invalid_citations = event.cited, event.invalid_citations
            grounded = event.grounding.supported_share if event.grounding else None
            result.scores["grounded"] = grounded
        elif event.type == "error":
            result.error = f"{event.code}: {event.message}"
    result.times_ms = times
    if result.error is not None:
        return result
    sources = retrieved(events)
    result.documents = list(dict.fromkeys(map(_document_of, sources)))
    result.ranks = [_rank(gold_item, sources, result.documents) for gold_item in question.gold]
    if not question.must_decline:
        result.scores |= retrieval_scores(result.ranks, k)
    result.scores |= _answer(question, sources, result)
    return result


def _rank(gold: Gold, sources: list[Source], documents: list[str]) -> int | None:
    for chunk in sources:
        if gold.matches(chunk.doc_id, chunk.metadata, chunk.content):
            return documents.index(_document_of(chunk)) + 1
    return None


def retrieval_scores(ranks: Sequence[int | None], k: int) -> dict[str, float | None]:
    """hit@k, recall@k, MRR and nDCG@10 of one question's gold items, from their ranks.

    ``ranks`` holds each gold item's document rank (1 = first), None when it was not
    retrieved. ``bench/`` scores its own searches with this too.

    Example:
        >>> retrieval_scores([2], k=1)["mrr"], retrieval_scores([2], k=1)["hit@1"]
        (0.5, 0.0)

    """
    found = [r for r in ranks if r is not None]
    relevant_at = {r for r in found if r <= NDCG_AT}
    dcg = sum(1 / math.log2(r + 1) for r in relevant_at)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(len(ranks), NDCG_AT) + 1))
    return {
        f"hit@{k}": float(any(r <= k for r in found)),
        f"recall@{k}": sum(1 for r in found if r <= k) / len(ranks),
        "mrr": 1 / min(found) if found else 0.0,
        f"ndcg@{NDCG_AT}": dcg / ideal,
    }


_DECLINE = re.compile(
    r"do(es)? not (say|contain|mention|provide)|don'?t (say|know|contain)|no information"
    r"|not (mentioned|found|stated) in the sources",
    re.IGNORECASE,
)


def is_decline(answer: str) -> bool:
    """Whether an answer declines, however it is worded.

    The knowledge base had nothing (no model call), the model's "The sources do not
    say.", or the ways a small model words that instead.

    ``bench/``'s answer-quality section counts declines with this too.

    Example:
        >>> is_decline("The sources do not mention reranking.")
        True

    """
    text = answer.strip()
    return (
        text == NOT_IN_KNOWLEDGE_BASE
        or NO_ANSWER.lower() in text.lower()
        or bool(_DECLINE.search(text))
    )


def _answer(
    question: EvalQuestion, sources: list[Source], result: QuestionResult
) -> dict[str, float | None]:
    declined = is_decline(result.answer)
    scores: dict[str, float | None] = {
        "declined": float(declined),
        "decline_correct": float(declined == question.must_decline),
    }
    if question.must_decline:
        return scores
    by_cite = {s.cite: s for s in sources}
    citations = [*result.cited, *result.invalid_citations]

    def gold_cited(cite: str) -> bool:
        chunk = by_cite.get(cite)
        return chunk is not None and any(
            g.matches(chunk.doc_id, chunk.metadata, chunk.content) for g in question.gold
        )

    covered = [
        any(
            (chunk := by_cite.get(c)) is not None
            and g.matches(chunk.doc_id, chunk.metadata, chunk.content)
            for c in result.cited
        )
        for g in question.gold
    ]
    scores["citation_precision"] = (
        sum(map(gold_cited, citations)) / len(citations) if citations else None
    )
    scores["citation_recall"] = sum(covered) / len(covered)
    scores["not_retrieved"] = len(result.invalid_citations) / len(citations) if citations else None
    return scores


@dataclass(frozen=True)
class Estimate:
    """A total and its 95% bootstrap interval over the questions it applies to."""

    value: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        """The estimate as ``report.json`` holds it."""
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation, as numpy's default."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bootstrap(
    values: Sequence[float], statistic: Callable[[Sequence[float]], float], *, seed: int = 0
) -> Estimate:
    """``statistic`` of ``values`` with the 2.5th and 97.5th percentiles of its resamples.

    The seed is fixed, so the same answers give the same interval on every run.
    """
    draw = random.Random(seed)
    resampled = [statistic(draw.choices(values, k=len(values))) for _ in range(BOOTSTRAP_DRAWS)]
    return Estimate(
        statistic(values), percentile(resampled, 0.025), percentile(resampled, 0.975), len(values)
    )


Statistic = Callable[[Sequence[float]], float]


def per_question(
    results: Sequence[QuestionResult],
) -> dict[str, tuple[dict[str, float], Statistic]]:
    """Each measure's value per answered question (by id), and its total's statistic.

    Means of scores and token counts, p50/p95 of times. :func:`totals` and
    ``--compare``'s paired differences both read this, so they cannot disagree.
    """
    answered = [r for r in results if r.error is None]
    found: dict[str, tuple[dict[str, float], Statistic]] = {}

    def add(name: str, values: dict[str, float], statistic: Statistic) -> None:
        if values:
            found[name] = (values, statistic)

    for name in dict.fromkeys(name for r in answered for name in r.scores):
        values = {r.id: v for r in answered if (v := r.scores.get(name)) is not None}
        add(name, values, statistics.fmean)
    for name in ("prompt_tokens", "completion_tokens"):
        counts = {r.id: float(v) for r in answered if (v := getattr(r, name)) is not None}
        add(f"{name}_mean", counts, statistics.fmean)
    for name in TIMES:
        times = {r.id: v for r in answered if (v := r.times_ms.get(name)) is not None}
        add(f"{name}_p50_ms", times, lambda v: percentile(v, 0.5))
        add(f"{name}_p95_ms", times, lambda v: percentile(v, 0.95))
    return found


def totals(results: Sequence[QuestionResult]) -> dict[str, Estimate]:
    """Each measure over the questions it applies to, with its bootstrap interval."""
    return {
        name: bootstrap(list(values.values()), statistic)
        for name, (values, statistic) in per_question(results).items()
    }
