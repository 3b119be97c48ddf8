"""Section 22: finding the right document on two corpora, each retrieval change alone and together.

Corpora: the Python docs of section 11 (:mod:`bench.python_docs`; its written questions
in plain words and its drawn API questions) and Debian's git documentation
(:mod:`bench.git_docs_questions`, 56 questions written before any of these searches ran
on it). Each corpus is indexed twice in one run, its chunks embedded as they are and
with their document's header (:mod:`chains.chunk_context`). On each index, per question,
interleaved (the order rotates question by question):

- **search**: the vector search; hybrid as shipped before (keyword fused only for a
  question naming an exact term); hybrid for every question;
- **sources per document**: no cap, or at most 1 or 2 per document with neighbours
  merged (:mod:`chains.diversity`).

Each configuration of the chunks: as they are; with their header; with their header
and the title boost (:mod:`chains.title_boost`, the card at its measured weight).

Measured: recall@4, recall@10 and MRR@10 by document and by passage (a source of an
answering document holding the answer's phrase), how often one document holds more
than two of an answer's four sources, the four sources' length (the prompt's share
that grows with merging), and the time per search (a capped search ranks the 40
candidates a ``k=4`` answer ranks; its top 10 come from the same 40). Then the
widening threshold on the Python docs for each configuration, and on the sample
knowledge base as shipped.

Run alone: ``python -m bench.document_retrieval``.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from app.settings import MEASURED_MIN_SCORE
from bench.git_docs_dialogues import git_documents
from bench.git_docs_questions import QUESTIONS as GIT_QUESTIONS
from bench.harness import fmt, run_alone, summary
from bench.min_score import min_score_table, sample_kb, thresholds
from bench.python_docs import api_questions, documents
from bench.python_docs_questions import ABSENT, Question
from bench.python_docs_questions import QUESTIONS as PY_QUESTIONS
from bench.report import Section
from bench.retrieval import _rates
from chains.chunking import InputDocument, build_splitter
from chains.diversity import CANDIDATES_PER_SOURCE, diversify
from chains.embeddings import build_embeddings
from chains.ingest import Ingestor
from chains.keyword import KeywordRetriever
from chains.progressive import HybridRetriever
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, build_vector_store
from chains.title_boost import MEASURED_TITLE_WEIGHT

SEARCHES = ("vector", "hybrid, exact terms only", "hybrid, always")
CAPS = (0, 2, 1)
ALONE, HEADER, BOOST = "chunk alone", "chunk with header", "header + title boost"
CONFIGS = {ALONE: (False, 0.0), HEADER: (True, 0.0), BOOST: (True, MEASURED_TITLE_WEIGHT)}
"""How each configuration embeds its chunks (with a header?) and how much the card weighs."""
CHARS_PER_TOKEN = 4
"""English text runs about four characters per token; the prompt column divides by it."""


async def index(
    embeddings: Embeddings, path: Path, docs: list[InputDocument], context: bool
) -> Any:
    store = build_vector_store(build_chroma_client(path=path), "docs", embeddings)
    started = time.perf_counter()
    ingestor = Ingestor(store, build_splitter(), chunk_context=context)
    events = [event async for event in ingestor.run(docs)]
    assert events[-1].type == "pipeline_done" and events[-1].failed == 0, events[-1]
    return store, events[-1].collection_size, time.perf_counter() - started


def searches(store: Any, title_weight: float) -> dict[str, Callable[[str, int], list[Document]]]:
    """Each search, asked for ``n`` ranked candidates."""
    vector = ScoredRetriever(vectorstore=store, k=10, title_weight=title_weight)
    vector.warm()  # embed the document cards before any search is timed
    keyword = KeywordRetriever(vectorstore=store, k=10)
    keyword._current()  # build the BM25 index before any search is timed
    shipped = HybridRetriever(vector=vector, keyword=keyword)
    always = HybridRetriever(vector=vector, keyword=keyword, exact_terms_only=False)
    return {
        "vector": lambda q, n: vector._search(q, n, None),
        "hybrid, exact terms only": lambda q, n: shipped.invoke(q, k=n),
        "hybrid, always": lambda q, n: always.invoke(q, k=n),
    }


def measure(stores: dict[bool, Any], questions: list[Question]) -> dict[str, Any]:
    """Per (index, search, cap): recall, MRR, crowding, source length and time."""
    variants = [(i, s, c) for i in CONFIGS for s in SEARCHES for c in CAPS]
    run = {
        config: searches(stores[context], weight) for config, (context, weight) in CONFIGS.items()
    }
    got: dict[tuple[str, str, int], dict[str, list[Any]]] = {
        v: {"top4": [], "top10": [], "ms": []} for v in variants
    }
    for n, question in enumerate(questions):
        turn = n % len(variants)
        for index, search, cap in variants[turn:] + variants[:turn]:
            started = time.perf_counter()
            ranked = run[index][search](question.text, CANDIDATES_PER_SOURCE * 4 if cap else 10)
            top10 = diversify(ranked, 10, cap)
            top4 = diversify(ranked, 4, cap)
            got[(index, search, cap)]["ms"].append((time.perf_counter() - started) * 1000)
            got[(index, search, cap)]["top4"].append(top4)
            got[(index, search, cap)]["top10"].append(top10)
    return {"/".join(map(str, v)): _score(got[v], questions) for v in variants}


def _score(got: dict[str, list[Any]], questions: list[Question]) -> dict[str, Any]:
    out: dict[str, Any] = {"ms": summary(got["ms"])}
    for level in ("document", "passage"):
        passage = level == "passage"
        at10 = _rates(
            [q.first_hit(h, passage) for q, h in zip(questions, got["top10"], strict=True)]
        )
        at4 = _rates([q.first_hit(h, passage) for q, h in zip(questions, got["top4"], strict=True)])
        out[level] = {"r@4": at4["r@4"], "r@10": at10["r@10"], "mrr": at10["mrr"]}
    crowded = [max(Counter(d.metadata["doc_id"] for d in top).values()) > 2 for top in got["top4"]]
    out["crowded"] = sum(crowded)
    out["tokens"] = statistics.fmean(
        sum(len(d.page_content.strip()) for d in top) / CHARS_PER_TOKEN for top in got["top4"]
    )
    return out


async def run(work: Path, logs: Path) -> dict[str, Any]:
    embeddings = build_embeddings("local")
    chapters = documents()
    corpora = {
        "Python docs": (chapters, {"plain words": PY_QUESTIONS, "API": api_questions(chapters)}),
        "git docs": (git_documents(), {"written": GIT_QUESTIONS}),
    }
    results: dict[str, Any] = {}
    for name, (docs, sets) in corpora.items():
        stores, built = {}, {}
        for context, label in ((False, ALONE), (True, HEADER)):
            path = work / f"{name}-{context}".replace(" ", "-")
            stores[context], chunks, seconds = await index(embeddings, path, docs, context)
            built[label] = {"chunks": chunks, "seconds": seconds}
        results[name] = {
            "built": built,
            "docs": len(docs),
            "sets": {s: measure(stores, qs) | {"n": len(qs)} for s, qs in sets.items()},
        }
        if name == "Python docs":
            results[name]["sample threshold"] = await sample_kb(embeddings, work / "sample-kb")
            results[name]["threshold"] = {
                config: thresholds(
                    ScoredRetriever(vectorstore=stores[context], k=4, title_weight=weight),
                    KeywordRetriever(vectorstore=stores[context], k=4),
                    [q.text for q in PY_QUESTIONS],
                    ABSENT,
                )
                for config, (context, weight) in CONFIGS.items()
            }
    return results


def _table(rows: dict[str, Any], n: int) -> str:
    head = (
        "| chunks embedded | search | per document | recall@4 doc | recall@10 doc | MRR doc "
        "| recall@4 passage | recall@10 passage | MRR passage | one document > 2 of 4 "
        "| sources' tokens (≈) | search p50 / p95 (ms) |\n"
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = []
    for key, row in rows.items():
        if key == "n":
            continue
        index, search, cap = key.split("/")
        d, p = row["document"], row["passage"]
        lines.append(
            f"| {index} | {search} | {'no cap' if cap == '0' else '≤ ' + cap + ', merged'} "
            f"| {d['r@4']:.0%} | {d['r@10']:.0%} | {d['mrr']:.3f} | {p['r@4']:.0%} "
            f"| {p['r@10']:.0%} | {p['mrr']:.3f} | {row['crowded']} of {n} | {row['tokens']:.0f} "
            f"| {fmt(row['ms']['p50'])} / {fmt(row['ms']['p95'])} |"
        )
    return head + "\n" + "\n".join(lines)


def section(r: dict[str, Any]) -> Section:
    parts = []
    for name, corpus in r.items():
        built = ", ".join(
            f"{label}: {b['chunks']:,} chunks in {b['seconds']:.0f} s"
            for label, b in corpus["built"].items()
        )
        parts.append(f"**{name}** ({corpus['docs']} documents; {built})")
        for set_name, rows in corpus["sets"].items():
            parts.append(f"*{set_name}* ({rows['n']} questions):\n\n{_table(rows, rows['n'])}")
        for config, measured in corpus.get("threshold", {}).items():
            parts.append(min_score_table(measured, MEASURED_MIN_SCORE, f"{name}, {config}"))
        if "sample threshold" in corpus:
            sample = corpus["sample threshold"]
            parts.append(
                min_score_table(sample, MEASURED_MIN_SCORE, f"sample knowledge base, {BOOST}")
            )
    headline = [
        f"Right document among 4 sources, {name} {set_name}: {_at4(rows, BEFORE)} before, "
        f"{_at4(rows, SHIPPED)} shipped (headers, title boost, 1 per document); search "
        f"{fmt(rows[BEFORE]['ms']['p50'])} → {fmt(rows[SHIPPED]['ms']['p50'])} ms p50"
        for name, corpus in r.items()
        for set_name, rows in corpus["sets"].items()
    ]
    return Section(
        22,
        "Finding the right document: headers, title boost, diversity, hybrid",
        "\n\n".join(parts),
        headline=headline,
    )


BEFORE, SHIPPED = f"{ALONE}/vector/0", f"{BOOST}/vector/1"
"""The search before issue 40 and the one shipped, as :func:`measure` keys them."""


def _at4(rows: dict[str, Any], key: str) -> str:
    return f"{rows[key]['document']['r@4']:.0%}"


if __name__ == "__main__":
    run_alone(run, section, "bench-document-retrieval-")
