"""Section 11: retrieval quality of each wave, the widening threshold, progressive TTFT.

On the Python documentation corpus (:mod:`bench.python_docs`), in one run, for each of
its two question sets (in plain words; naming an API):

1. **Recall and MRR** at the passage level (a chunk of an answering chapter that holds
   the answer's phrase) and the chapter level (any chunk of it), for wave 1 (the vector
   search), BM25 alone, hybrid search always fused, and wave 2 as shipped (hybrid only
   when the question names an exact term), each asked for its top 10; and the time
   each takes, the four interleaved per question.
2. **How often progressive mode would revise** (:mod:`bench.revisions`).
3. **The widening threshold** (:mod:`bench.min_score`): the best cosine score of
   answerable and absent questions, and what each candidate ``RAG_MIN_SCORE`` declines,
   on the Python docs and on the sample knowledge base.
4. **First token with and without progressive mode** through the app (``/rag/sse``) and
   the real engine (:mod:`bench.progressive_ttft`), with revises counted per set.

Run alone: ``python -m bench.retrieval`` prints this section.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from app.evaluation.metrics import retrieval_scores
from bench import progressive_ttft
from bench.harness import fmt, summary
from bench.min_score import min_score_table, sample_kb, thresholds
from bench.python_docs import api_questions, documents
from bench.python_docs_questions import ABSENT, QUESTIONS, Question
from bench.report import Section, bar_chart
from bench.revisions import revise_table, revisions
from chains.chunking import InputDocument, build_splitter
from chains.ingest import Ingestor
from chains.keyword import KeywordRetriever, exact_terms
from chains.progressive import HybridRetriever
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, build_vector_store

COLLECTION = "python_docs"
AT = (1, 4, 10)
PLAIN, NAMED = "questions in plain words", "API questions"
SHORT = {PLAIN: "plain words", NAMED: "API"}


async def build(
    embeddings: Embeddings, path: Path, chapters: list[InputDocument]
) -> dict[str, Any]:
    """Index ``chapters`` into a fresh collection; its size and how long it took."""
    store = build_vector_store(build_chroma_client(path=path), COLLECTION, embeddings)
    started = time.perf_counter()
    events = [event async for event in Ingestor(store, build_splitter()).run(chapters)]
    done = events[-1]
    assert done.type == "pipeline_done" and done.failed == 0, done
    return {
        "store": store,
        "chunks": done.collection_size,
        "docs": done.indexed,
        "seconds": time.perf_counter() - started,
    }


def _rates(found: list[int | None]) -> dict[str, float]:
    """Recall at each of :data:`AT` and MRR, scored by ``streaming-rag eval``'s own code."""
    scored = {n: [retrieval_scores([r], n) for r in found] for n in AT}
    return {
        **{f"r@{n}": statistics.fmean(s[f"recall@{n}"] or 0.0 for s in scored[n]) for n in AT},
        "mrr": statistics.fmean(s["mrr"] or 0.0 for s in scored[AT[0]]),
    }


WAVE_1, ALWAYS, WAVE_2 = "wave 1: vector", "hybrid, always fused", "wave 2 (shipped)"


def quality(store: Any, sets: dict[str, list[Question]]) -> dict[str, Any]:
    """Per question set: recall@1/4/10, MRR@10 and per-query time of each search."""
    vector = ScoredRetriever(vectorstore=store, k=10)
    keyword = KeywordRetriever(vectorstore=store, k=10)
    builds = []
    for _ in range(3):
        started = time.perf_counter()
        KeywordRetriever(vectorstore=store, k=10)._current()
        builds.append(time.perf_counter() - started)
    always = HybridRetriever(vector=vector, keyword=keyword, exact_terms_only=False)
    wave_2 = HybridRetriever(vector=vector, keyword=keyword)
    searches = {
        WAVE_1: lambda q: vector._search(q, 10, None),
        "BM25 alone": lambda q: keyword._search(q, 10, None),
        ALWAYS: lambda q: always.invoke(q, k=10),
        WAVE_2: lambda q: wave_2.invoke(q, k=10),
    }
    names = list(searches)
    rows = {}
    for set_name, questions in sets.items():
        hits: dict[str, list[list[Any]]] = {name: [] for name in searches}
        times: dict[str, list[float]] = {name: [] for name in searches}
        for i, question in enumerate(questions):
            for name in names[i % 4 :] + names[: i % 4]:  # rotate which goes first
                started = time.perf_counter()
                hits[name].append(searches[name](question.text))
                times[name].append(time.perf_counter() - started)
        rows[set_name] = {
            name: {
                level: _rates(
                    [
                        q.first_hit(h, passage=level == "passage")
                        for h, q in zip(hits[name], questions, strict=True)
                    ]
                )
                for level in ("chapter", "passage")
            }
            | {"ms": summary([t * 1000 for t in times[name]])}
            for name in names
        }
    return {
        "rows": rows,
        "sizes": {name: len(qs) for name, qs in sets.items()},
        "named": {name: sum(1 for q in qs if exact_terms(q.text)) for name, qs in sets.items()},
        "bm25_build_ms": [b * 1000 for b in builds],
        "revise": {name: revisions(vector, wave_2, qs) for name, qs in sets.items()},
        "threshold": thresholds(vector, keyword, [q.text for q in QUESTIONS], ABSENT),
    }


async def run(work: Path, logs: Path, embeddings: Embeddings, min_score: float) -> dict[str, Any]:
    """Everything section 11 reports, measured in this order."""
    chapters = documents()
    sets = {PLAIN: QUESTIONS, NAMED: api_questions(chapters)}
    built = await build(embeddings, work / "python-docs", chapters)
    measured = quality(built.pop("store"), sets)
    measured["corpus"] = built
    measured["sample_threshold"] = await sample_kb(embeddings, work / "sample-kb")
    measured["live"] = await progressive_ttft.run(
        work, logs, work / "python-docs", COLLECTION, min_score, sets
    )
    return measured


def _recall_rows(rows: dict[str, Any], level: str) -> str:
    return "\n".join(
        f"| {name} | {row[level]['r@1']:.0%} | {row[level]['r@4']:.0%} | {row[level]['r@10']:.0%} "
        f"| {row[level]['mrr']:.3f} |"
        for name, row in rows.items()
    )


def _verdict(rows: dict[str, Any]) -> str:
    """Wave 2 against wave 1 at passage level, in words that follow the figures."""
    vec, wave = rows[WAVE_1]["passage"], rows[WAVE_2]["passage"]
    deltas = {key: wave[key] - vec[key] for key in ("r@1", "r@4", "r@10")}
    gains = [key for key, d in deltas.items() if d > 0]
    losses = [key for key, d in deltas.items() if d < 0]
    said = ", ".join(f"{key.replace('r@', 'recall@')} {d:+.0%}" for key, d in deltas.items())
    if losses and not gains:
        word = "a loss"
    elif gains and not losses:
        word = "a gain"
    elif gains and losses:
        word = "mixed"
    else:
        word = "no change"
    return f"{said}, MRR {wave['mrr'] - vec['mrr']:+.3f}: {word}"


def _live_row(name: str, m: dict[str, Any]) -> str:
    revised = (
        " / ".join(f"{c['revised']}/{c['answered']}" for c in m["by_set"].values())
        if name == "progressive"
        else "-"
    )
    adds = fmt(m["wave_adds"]["p50"], 0) if name == "progressive" else "-"
    return (
        f"| {name} | {fmt(m['ttft']['p50'], 0)} / {fmt(m['ttft']['p95'], 0)} "
        f"| {fmt(m['final_ttft']['p50'], 0)} / {fmt(m['final_ttft']['p95'], 0)} "
        f"| {fmt(m['total']['p50'], 0)} | {revised} | {adds} |"
    )


def _set_tables(r: dict[str, Any], name: str) -> str:
    rows, rev, n = r["rows"][name], r["revise"][name], r["sizes"][name]
    head = "| search (top 10) | recall@1 | recall@4 | recall@10 | MRR@10 |\n| --- | ---: | ---: | ---: | ---: |"
    times = "\n".join(
        f"| {search} | {fmt(row['ms']['p50'])} / {fmt(row['ms']['p95'])} |"
        for search, row in rows.items()
    )
    return f"""**{name[0].upper()}{name[1:]}** ({n} questions, {r["named"][name]} of them naming an exact term). Passage level:

{head}
{_recall_rows(rows, "passage")}

Chapter level:

{head}
{_recall_rows(rows, "chapter")}

| search | time per query p50 / p95 (ms) |
| --- | ---: |
{times}

Wave 2 against wave 1 (passage level): {_verdict(rows)}.

{revise_table(rev, n)}"""


def section(r: dict[str, Any], out: Path, min_score: float) -> Section:
    corpus, live = r["corpus"], r["live"]
    plain, prog = live[False], live[True]
    names = list(r["rows"])
    passage = {
        f"{search} ({SHORT[set_name]})": [row["passage"][f"r@{k}"] for k in AT]
        + [row["passage"]["mrr"]]
        for set_name in names
        for search, row in r["rows"][set_name].items()
        if search in (WAVE_1, WAVE_2)
    }
    chart = bar_chart(
        out / "retrieval.png",
        "Passage-level retrieval on the Python docs",
        [f"recall@{k}" for k in AT] + ["MRR@10"],
        passage,
        "share of questions",
    )
    bm25 = summary(r["bm25_build_ms"])
    n_live = sum(c["answered"] for c in prog["by_set"].values())
    tables = "\n\n".join(_set_tables(r, name) for name in names)
    body = f"""Corpus: the Python 3.11 documentation sources from Debian's `python3.11-doc` (every HOWTO, FAQ and tutorial chapter and 26 library chapters, {corpus["docs"]} chapters), **{corpus["chunks"]:,} chunks** of at most 800 characters, indexed in {corpus["seconds"]:.0f} s. Two question sets (`bench/python_docs.py`), each question with the chapters that answer it and a phrase of the answering passage:

- *questions in plain words*, written for this benchmark in our own words rather than the documentation's;
- *API questions*, drawn rather than written: names that one directive of a library chapter defines (`.. method:: Path.stat(...)`), sampled with a fixed seed and asked as "What does pathlib.Path.stat do?"; the passage is the directive line.

The searches ran interleaved, question by question. Wave 2 (shipped) fuses BM25 with the vector search only when the question names an exact term (`chains.keyword.exact_terms`: a dotted or snake_case name, camelCase, letters with digits, a call, a backticked span); otherwise it is the vector ranking.

{tables}

The BM25 index is built from a snapshot of the collection at the first keyword search after a write: {fmt(bm25["p50"], 0)} ms for {corpus["chunks"]:,} chunks (median of 3 builds); the widening step and wave 2 pay it once after each ingestion.

{min_score_table(r["threshold"], min_score)}

{min_score_table(r["sample_threshold"], min_score, "sample knowledge base")}

**First token with and without progressive mode** (`/rag/sse`, the real engine with 4 slots, the {n_live} questions of both sets each, the two modes alternating A B / B A, `max_tokens` {progressive_ttft.ANSWER_TOKENS}):

| mode | first token p50 / p95 (ms) | first token of the answer that stood p50 / p95 (ms) | whole answer p50 (ms) | revised (plain words / API) | wave 2 done after the first source, p50 (ms) |
| --- | ---: | ---: | ---: | ---: | ---: |
{_live_row("plain", plain)}
{_live_row("progressive", prog)}

Errors: plain {plain["errors"]}, progressive {prog["errors"]}. A progressive answer that is not revised is written from one source, so its first token comes sooner than plain mode's four-source prompt."""
    api = r["rows"][NAMED]
    vec, wave = api[WAVE_1]["passage"], api[WAVE_2]["passage"]
    headline = [
        f"Retrieval on the Python docs ({corpus['chunks']:,} chunks, passage level): on API "
        f"questions recall@4 {vec['r@4']:.0%} for the vector search (wave 1), "
        f"{wave['r@4']:.0%} for wave 2 (MRR {vec['mrr']:.3f} / {wave['mrr']:.3f}); in plain "
        f"words wave 2: {_verdict(r['rows'][PLAIN])}.",
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
