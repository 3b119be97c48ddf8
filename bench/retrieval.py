"""Section 11: retrieval quality of each wave, the widening threshold, progressive TTFT.

On the Python documentation corpus (:mod:`bench.python_docs`), in one run:

1. **Recall and MRR** at the passage level (a chunk of an answering chapter that holds
   the answer's phrase) and the chapter level (any chunk of it), for wave 1 (the vector
   search), BM25 alone and wave 2 (hybrid: both fused by reciprocal rank), each asked
   for its top 10; and the time each takes, the three interleaved per question.
2. **The widening threshold** (:mod:`bench.min_score`): the best cosine score of
   answerable and absent questions, and what each candidate ``RAG_MIN_SCORE`` declines.
3. **How often progressive mode would revise** at the app's ``k=4`` under two rules
   (wave 2 ranks another chunk first; another document first, the shipped rule), and
   whether each revise moved to a right or a wrong passage.
4. **First token with and without progressive mode** through the app (``/rag/sse``) and
   the real engine (:mod:`bench.progressive_ttft`).

Run alone: ``python -m bench.retrieval`` prints this section.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from bench import progressive_ttft
from bench.harness import fmt, summary
from bench.min_score import min_score_table, thresholds
from bench.python_docs import QUESTIONS, Question, documents
from bench.report import Section, bar_chart
from chains.ingest import Ingestor, build_splitter
from chains.keyword import KeywordRetriever
from chains.progressive import HybridRetriever
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, build_vector_store

COLLECTION = "python_docs"
AT = (1, 4, 10)


async def build(embeddings: Embeddings, path: Path) -> dict[str, Any]:
    """Index the corpus into a fresh collection; its size and how long it took."""
    store = build_vector_store(build_chroma_client(path=path), COLLECTION, embeddings)
    started = time.perf_counter()
    events = [event async for event in Ingestor(store, build_splitter()).run(documents())]
    done = events[-1]
    assert done.type == "pipeline_done" and done.failed == 0, done
    return {
        "store": store,
        "chunks": done.collection_size,
        "docs": done.indexed,
        "seconds": time.perf_counter() - started,
    }


def _first_hit(hits: list[Any], question: Question, passage: bool) -> int | None:
    """1-based rank of the first chunk from an answering chapter (holding the phrase)."""
    for rank, hit in enumerate(hits, 1):
        if hit.metadata["doc_id"] in question.chapters and (
            not passage or question.passage in hit.page_content
        ):
            return rank
    return None


def _rates(found: list[int | None]) -> dict[str, float]:
    return {
        **{f"r@{n}": sum(1 for r in found if r and r <= n) / len(found) for n in AT},
        "mrr": statistics.fmean(1 / r if r else 0.0 for r in found),
    }


def quality(store: Any) -> dict[str, Any]:
    """Recall@1/4/10, MRR@10 and per-query time of each retrieval, interleaved."""
    vector = ScoredRetriever(vectorstore=store, k=10)
    keyword = KeywordRetriever(vectorstore=store, k=10)
    builds = []
    for _ in range(3):
        started = time.perf_counter()
        KeywordRetriever(vectorstore=store, k=10)._current()
        builds.append(time.perf_counter() - started)
    hybrid = HybridRetriever(vector=vector, keyword=keyword)
    searches = {
        "wave 1: vector": lambda q: vector._search(q, 10, None),
        "BM25 alone": lambda q: keyword._search(q, 10, None),
        "wave 2: hybrid (RRF)": lambda q: hybrid.invoke(q, k=10),
    }
    hits: dict[str, list[list[Any]]] = {name: [] for name in searches}
    times: dict[str, list[float]] = {name: [] for name in searches}
    names = list(searches)
    for i, question in enumerate(QUESTIONS):
        for name in names[i % 3 :] + names[: i % 3]:  # rotate which goes first
            started = time.perf_counter()
            hits[name].append(searches[name](question.text))
            times[name].append(time.perf_counter() - started)
    rows = {
        name: {
            level: _rates(
                [
                    _first_hit(h, q, level == "passage")
                    for h, q in zip(hits[name], QUESTIONS, strict=True)
                ]
            )
            for level in ("chapter", "passage")
        }
        | {"ms": summary([t * 1000 for t in times[name]])}
        for name in names
    }
    return {
        "rows": rows,
        "bm25_build_ms": [b * 1000 for b in builds],
        "revise": revisions(vector, hybrid),
        "threshold": thresholds(vector, keyword),
    }


def revisions(vector: ScoredRetriever, hybrid: HybridRetriever) -> dict[str, dict[str, int]]:
    """At the app's k=4: how often wave 2's best chunk would revise, by rule, and to what."""
    out = {
        rule: dict.fromkeys(("revised", "fixed", "broke", "both_right", "both_wrong"), 0)
        for rule in ("chunk", "document")
    }
    verdict = {(False, True): "fixed", (True, False): "broke", (True, True): "both_right"}
    for question in QUESTIONS:
        first = vector._search(question.text, 4, None)[0]
        best = hybrid.invoke(question.text, k=4)[0]
        was = _first_hit([first], question, passage=True) is not None
        now = _first_hit([best], question, passage=True) is not None
        for rule, moved in (
            ("chunk", best.id != first.id),
            ("document", best.metadata["doc_id"] != first.metadata["doc_id"]),
        ):
            if moved:
                out[rule]["revised"] += 1
                out[rule][verdict.get((was, now), "both_wrong")] += 1
    return out


async def run(work: Path, logs: Path, embeddings: Embeddings, min_score: float) -> dict[str, Any]:
    """Everything section 11 reports, measured in this order."""
    built = await build(embeddings, work / "python-docs")
    measured = quality(built.pop("store"))
    measured["corpus"] = built
    measured["live"] = await progressive_ttft.run(
        work, logs, work / "python-docs", COLLECTION, min_score
    )
    return measured


def _recall_rows(rows: dict[str, Any], level: str) -> str:
    return "\n".join(
        f"| {name} | {row[level]['r@1']:.0%} | {row[level]['r@4']:.0%} | {row[level]['r@10']:.0%} "
        f"| {row[level]['mrr']:.3f} |"
        for name, row in rows.items()
    )


def _revise_row(rule: str, counts: dict[str, int]) -> str:
    return (
        f"| {rule} | {counts['revised']}/{len(QUESTIONS)} | {counts['fixed']} | {counts['broke']} "
        f"| {counts['both_right']} | {counts['both_wrong']} |"
    )


def _verdict(rows: dict[str, Any]) -> str:
    """Wave 2 against wave 1 at passage level, in words that follow the figures."""
    vec, hyb = rows["wave 1: vector"]["passage"], rows["wave 2: hybrid (RRF)"]["passage"]
    deltas = {key: hyb[key] - vec[key] for key in ("r@1", "r@4", "r@10")}
    gains = [key for key, d in deltas.items() if d > 0]
    losses = [key for key, d in deltas.items() if d < 0]
    said = ", ".join(f"{key.replace('r@', 'recall@')} {d:+.0%}" for key, d in deltas.items())
    if losses and not gains:
        word = "a loss"
    elif gains and not losses:
        word = "a gain"
    else:
        word = "mixed"
    return (
        f"**Wave 2 against wave 1** (passage level): {said}, MRR {hyb['mrr'] - vec['mrr']:+.3f}; "
        f"on this corpus the hybrid wave is {word}."
    )


def _live_row(name: str, m: dict[str, Any]) -> str:
    revised = f"{m['revised']}/{m['n'] - m['errors']}" if name == "progressive" else "-"
    adds = fmt(m["wave_adds"]["p50"], 0) if name == "progressive" else "-"
    return (
        f"| {name} | {fmt(m['ttft']['p50'], 0)} / {fmt(m['ttft']['p95'], 0)} "
        f"| {fmt(m['final_ttft']['p50'], 0)} / {fmt(m['final_ttft']['p95'], 0)} "
        f"| {fmt(m['total']['p50'], 0)} | {revised} | {adds} |"
    )


def section(r: dict[str, Any], out: Path, min_score: float) -> Section:
    corpus, rows, rev, live = r["corpus"], r["rows"], r["revise"], r["live"]
    plain, prog = live[False], live[True]
    n = len(QUESTIONS)
    times = "\n".join(
        f"| {name} | {fmt(row['ms']['p50'])} / {fmt(row['ms']['p95'])} |"
        for name, row in rows.items()
    )
    chart = bar_chart(
        out / "retrieval.png",
        f"Passage-level retrieval on the Python docs ({n} questions)",
        [f"recall@{k}" for k in AT] + ["MRR@10"],
        {
            name: [row["passage"][f"r@{k}"] for k in AT] + [row["passage"]["mrr"]]
            for name, row in rows.items()
        },
        "share of questions",
    )
    bm25 = summary(r["bm25_build_ms"])
    head = "| search (top 10) | recall@1 | recall@4 | recall@10 | MRR@10 |\n| --- | ---: | ---: | ---: | ---: |"
    body = f"""Corpus: the Python 3.11 documentation sources from Debian's `python3.11-doc` (every HOWTO, FAQ and tutorial chapter and 26 library chapters, {corpus["docs"]} chapters), **{corpus["chunks"]:,} chunks** of at most 800 characters, indexed in {corpus["seconds"]:.0f} s. {n} questions written for this benchmark in our own words (`bench/python_docs.py`), each with the chapters that answer it and a phrase of the answering passage. The three searches ran interleaved, question by question.

Passage level (a hit is a chunk of an answering chapter that holds the answer's phrase, which is what a four-chunk prompt needs):

{head}
{_recall_rows(rows, "passage")}

Chapter level (any chunk of an answering chapter):

{head}
{_recall_rows(rows, "chapter")}

| search | time per query p50 / p95 (ms) |
| --- | ---: |
{times}

The BM25 index is built from a snapshot of the collection at the first keyword search after a write: {fmt(bm25["p50"], 0)} ms for {corpus["chunks"]:,} chunks (median of 3 builds); the widening step and wave 2 pay it once after each ingestion.

{_verdict(rows)}

**How often progressive mode would revise** (`k=4`, `RAG_PROGRESSIVE_FIRST_K=1`, wave 2 against wave 1's top chunk; right = holds the answer's passage):

| material-change rule | revised | wrong → right | right → wrong | both right | both wrong |
| --- | ---: | ---: | ---: | ---: | ---: |
{_revise_row("another chunk first", rev["chunk"])}
{_revise_row("another document first (shipped)", rev["document"])}

{min_score_table(r["threshold"], min_score)}

**First token with and without progressive mode** (`/rag/sse`, the real engine with 4 slots, {n} questions each, the two modes alternating A B / B A, `max_tokens` {progressive_ttft.ANSWER_TOKENS}):

| mode | first token p50 / p95 (ms) | first token of the answer that stood p50 / p95 (ms) | whole answer p50 (ms) | revised | wave 2 done after the first source, p50 (ms) |
| --- | ---: | ---: | ---: | ---: | ---: |
{_live_row("plain", plain)}
{_live_row("progressive", prog)}

Errors: plain {plain["errors"]}, progressive {prog["errors"]}. A progressive answer that is not revised is written from one source, so its first token comes sooner than plain mode's four-source prompt."""
    vec, hyb = rows["wave 1: vector"]["passage"], rows["wave 2: hybrid (RRF)"]["passage"]
    headline = [
        f"Retrieval on the Python docs ({corpus['chunks']:,} chunks, {n} questions, passage level): "
        f"recall@4 {vec['r@4']:.0%} for the vector search (wave 1), {hyb['r@4']:.0%} for hybrid "
        f"(wave 2); MRR {vec['mrr']:.3f} / {hyb['mrr']:.3f}.",
        f"Progressive mode: first token p50 {fmt(prog['ttft']['p50'], 0)} ms against "
        f"{fmt(plain['ttft']['p50'], 0)} ms plain; revised {prog['revised']} of "
        f"{prog['n'] - prog['errors']} answers.",
    ]
    return Section(11, "Retrieval quality, widening and progressive context", body, chart, headline)


if __name__ == "__main__":
    import asyncio
    import tempfile

    from app.settings import MEASURED_MIN_SCORE
    from chains.embeddings import build_embeddings

    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        work = Path(tmp)
        (work / "logs").mkdir()
        model = build_embeddings("local")
        results = asyncio.run(run(work, work / "logs", model, MEASURED_MIN_SCORE))
        print(section(results, Path(__file__).parent, MEASURED_MIN_SCORE).body)
