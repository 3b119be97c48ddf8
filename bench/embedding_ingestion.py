"""Section 23's ingestion figures: chunks per second for each backend, and a whole corpus.

Part of :mod:`bench.embedding_backends`, which reports them.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from bench.git_docs_dialogues import git_documents
from bench.git_docs_questions import QUESTIONS as GIT_QUESTIONS
from bench.python_docs import documents
from bench.retrieval import _rates
from chains.chunk_context import embedded_text
from chains.chunking import build_splitter, chunk_document
from chains.diversity import CANDIDATES_PER_SOURCE, diversify
from chains.ingest import Ingestor
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, build_vector_store
from chains.title_boost import MEASURED_TITLE_WEIGHT

INGEST_CHAPTERS = 12
"""Python-docs chapters indexed per backend and round (about 500 chunks of 800 characters)."""
INT8 = "ONNX int8 (not shipped)"


async def chunk_rates(models: dict[str, Embeddings], work: Path) -> dict[str, Any]:
    """Chunks per second: the model embedding the chunks in one call, and a whole ingest."""
    chapters = documents()[:INGEST_CHAPTERS]
    splitter = build_splitter()
    texts = [embedded_text(c) for doc in chapters for c in chunk_document(doc, splitter)]
    rates: dict[str, dict[str, list[float]]] = {}
    for round_ in range(2):
        for name in list(models)[:2] if round_ == 0 else list(models)[1::-1]:
            model = models[name]
            started = time.perf_counter()
            model.embed_documents(texts)
            raw = len(texts) / (time.perf_counter() - started)
            store = build_vector_store(
                build_chroma_client(path=work / f"ingest-{round_}-{name[:4]}"), "bench", model
            )
            started = time.perf_counter()
            events = [event async for event in Ingestor(store, splitter).run(chapters)]
            assert events[-1].type == "pipeline_done" and events[-1].failed == 0
            rate = len(texts) / (time.perf_counter() - started)
            rates.setdefault(name, {"model": [], "ingest": []})
            rates[name]["model"].append(raw)
            rates[name]["ingest"].append(rate)
    return {"chunks": len(texts), "rates": rates}


async def whole_corpus(models: dict[str, Embeddings], work: Path) -> dict[str, Any]:
    """Debian's git documentation indexed whole by ``Ingestor.run``, once per backend.

    ONNX int8 (``quantize_dynamic`` of the shipped export) joins here only: its vectors are
    not PyTorch's (cosine ~0.95), so it is scored on an index of its own, as each is here:
    recall by document of the 56 written git questions, shipped search (title boost, one
    source per document).
    """
    from onnxruntime.quantization import quantize_dynamic

    from chains.embeddings import DEFAULT_CACHE, local_model_path
    from chains.onnx_embeddings import OnnxEmbeddings, exported_model

    weights = local_model_path()
    int8 = work / "minilm-int8.onnx"
    quantize_dynamic(exported_model(weights, DEFAULT_CACHE), int8)
    runs = {**dict(list(models.items())[:2]), INT8: OnnxEmbeddings(int8, weights)}
    docs = git_documents()
    out: dict[str, Any] = {"docs": len(docs)}
    for number, (name, model) in enumerate(runs.items()):
        store = build_vector_store(build_chroma_client(path=work / f"git-{number}"), "bench", model)
        started = time.perf_counter()
        events = [event async for event in Ingestor(store, build_splitter()).run(docs)]
        seconds = time.perf_counter() - started
        assert events[-1].type == "pipeline_done" and events[-1].failed == 0
        search = ScoredRetriever(vectorstore=store, k=10, title_weight=MEASURED_TITLE_WEIGHT)
        ranked = [search._search(q.text, CANDIDATES_PER_SOURCE * 4) for q in GIT_QUESTIONS]
        pairs = list(zip(GIT_QUESTIONS, ranked, strict=True))
        at4 = [q.first_hit(diversify(hits, 4, 1), False) for q, hits in pairs]
        at10 = [q.first_hit(diversify(hits, 10, 1), False) for q, hits in pairs]
        out[name] = {
            "chunks": events[-1].collection_size,
            "s": seconds,
            "r@4": _rates(at4)["r@4"],
            **{k: v for k, v in _rates(at10).items() if k in ("r@10", "mrr")},
        }
    return out


def ingestion_lines(
    rates: dict[str, Any], whole: dict[str, Any], names: tuple[str, ...]
) -> list[str]:
    """The two ingestion tables of section 23: chunks/s per backend, then the whole corpus."""
    lines = [
        f"**Ingestion**, {rates['chunks']} chunks of 800 characters with headers, "
        "two rounds alternating the backends: the model embedding them in one call, and "
        "`Ingestor.run` (split, embed per document, write to Chroma)",
        "",
        "| backend | model chunks/s | ingest chunks/s | ingest / model |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, runs in rates["rates"].items():
        model, ingest = statistics.fmean(runs["model"]), statistics.fmean(runs["ingest"])
        spread = " / ".join(f"{x:.1f}" for x in runs["ingest"])
        lines.append(f"| {name} | {model:.1f} | {ingest:.1f} ({spread}) | {ingest / model:.2f} |")
    lines += [
        "",
        f"**A whole corpus**: Debian's git documentation ({whole['docs']} files), indexed by "
        "`Ingestor.run` into an empty collection, once per backend; recall by document of "
        f"the {len(GIT_QUESTIONS)} written git questions, each backend on its own index",
        "",
        "| backend | chunks | seconds | chunks/s | recall@4 | recall@10 | MRR |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in names:
        w = whole[name]
        lines.append(
            f"| {name} | {w['chunks']:,} | {w['s']:.0f} | {w['chunks'] / w['s']:.1f} | "
            f"{w['r@4']:.0%} | {w['r@10']:.0%} | {w['mrr']:.3f} |"
        )
    return lines
