"""Section 23: the bundled embedding model through PyTorch and through ONNX Runtime.

Ingestion, a whole corpus and ONNX int8 are :mod:`bench.embedding_ingestion`. The
question timings alternate the backends question by question (A B A B), alone and while
the local engine generates for 4 users on the same two cores. The raw models are timed
(the question memory of :mod:`chains.query_batching` would make a repeated question free);
its batching is measured apart, 4 questions at once. Run alone with
``python -m bench.embedding_backends``.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from langchain_core.embeddings import Embeddings

from app.engines.llama_server import LocalModelServer
from app.engines.model_file import local_model_file
from bench.corpus import copy_collection
from bench.embedding_ingestion import INT8, chunk_rates, ingestion_lines, whole_corpus
from bench.harness import fmt, free_port, run_alone, summary, verdict
from bench.python_docs import api_questions, documents
from bench.python_docs_questions import QUESTIONS
from bench.report import Section, machine
from bench.retrieval import COLLECTION, _rates, build
from chains.embeddings import build_embeddings
from chains.query_batching import BatchedQueryEmbeddings
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, build_vector_store
from chains.title_boost import MEASURED_TITLE_WEIGHT

USERS = 4


def _backends() -> dict[str, Embeddings]:
    """The raw models: PyTorch, ONNX Runtime as shipped (spinning off), and with spinning."""
    from chains.embeddings import DEFAULT_CACHE, local_model_path
    from chains.onnx_embeddings import OnnxEmbeddings, exported_model

    weights = local_model_path()
    model = exported_model(weights, DEFAULT_CACHE)
    return {
        "PyTorch": build_embeddings("local", backend="torch").model,  # type: ignore[attr-defined]
        "ONNX (shipped)": OnnxEmbeddings(model, weights),
        "ONNX, threads spin": OnnxEmbeddings(model, weights, spin=True),
    }


@contextmanager
def _engine_busy(work: Path) -> Iterator[None]:
    """The local engine generating for :data:`USERS` users, without pause, until the end."""
    server = LocalModelServer(
        model_path=local_model_file("Q4_0", work / "models"),
        port=free_port(),
        slots=USERS,
        log_path=work / "engine.log",
    )
    stop = threading.Event()

    def user() -> None:
        body = {
            "model": "local",
            "messages": [{"role": "user", "content": "Tell a long story about a lighthouse."}],
            "max_tokens": 256,
            "stream": True,
        }
        with httpx.Client(base_url=server.base_url, timeout=120) as client:
            while not stop.is_set():
                try:
                    with client.stream("POST", "/chat/completions", json=body) as response:
                        for _ in response.iter_lines():
                            if stop.is_set():
                                break
                except httpx.RemoteProtocolError:  # a kept-alive connection closed as reused
                    continue  # ask again: a user that died would lighten the load unseen

    with server, ThreadPoolExecutor(USERS) as pool:
        futures = [pool.submit(user) for _ in range(USERS)]
        time.sleep(3)  # every slot generating
        try:
            yield
        finally:
            stop.set()
            for future in futures:
                future.result()


def _query_times(models: dict[str, Embeddings], questions: list[str]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for i, question in enumerate(questions):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            started = time.perf_counter()
            models[name].embed_query(question)
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def _batched_times(model: Embeddings, questions: list[str]) -> dict[str, list[float]]:
    """4 questions at once, one by one against gathered (each group new to the memory)."""
    out: dict[str, list[float]] = {"one by one": [], "gathered": []}
    with ThreadPoolExecutor(USERS) as pool:
        for start in range(0, len(questions) - USERS + 1, USERS):
            group = questions[start : start + USERS]
            for name in (
                ("one by one", "gathered") if start % 8 == 0 else ("gathered", "one by one")
            ):
                embed = (
                    BatchedQueryEmbeddings(model).embed_query
                    if name == "gathered"
                    else model.embed_query
                )
                started = time.perf_counter()
                list(pool.map(embed, [f"{q} ({name})" for q in group]))
                out[name].append((time.perf_counter() - started) * 1000)
    return out


def _recall(models: dict[str, Embeddings], path: Path, sets: dict[str, list[Any]]) -> dict:
    """Recall by document on one index (built by ONNX), each backend embedding the questions."""
    client = build_chroma_client(path=path)
    out: dict[str, Any] = {}
    for name, model in models.items():
        store = build_vector_store(client, COLLECTION, model)
        search = ScoredRetriever(vectorstore=store, k=10, title_weight=MEASURED_TITLE_WEIGHT)
        out[name] = {
            set_name: _rates([q.first_hit(search._search(q.text, 10), False) for q in qs])
            for set_name, qs in sets.items()
        }
    return out


def _first_source(
    models: dict[str, Embeddings], path: Path, questions: list[str]
) -> dict[str, list[float]]:
    """In process: embed the question and take the 4 nearest of 10,000 chunks."""
    collection = build_chroma_client(path=path).get_collection("bench")

    def first_source(model: Embeddings) -> Callable[[str], Any]:
        return lambda q: collection.query(query_embeddings=[model.embed_query(q)], n_results=4)

    timed = {name: first_source(model) for name, model in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    for i, question in enumerate(questions):
        for name in list(timed)[i % len(timed) :] + list(timed)[: i % len(timed)]:
            started = time.perf_counter()
            timed[name](question)
            times[name].append((time.perf_counter() - started) * 1000)
    return times


async def run(work: Path, logs: Path) -> dict[str, Any]:
    """Everything section 23 reports, in this order."""
    models = _backends()
    chapters = documents()
    sets = {"plain words": QUESTIONS, "API": api_questions(chapters)}
    questions = [q.text for qs in sets.values() for q in qs]
    measured: dict[str, Any] = {"cpu": _cpu()}
    measured["ingestion"] = await chunk_rates(models, work)
    measured["whole corpus"] = await whole_corpus(models, work)
    index = await build(models["ONNX (shipped)"], work / "python-docs", chapters)
    measured["corpus"] = {"chunks": index["chunks"], "seconds": index["seconds"]}
    measured["recall"] = _recall(models, work / "python-docs", sets)
    source = build_chroma_client(path=work / "python-docs").get_collection(COLLECTION)
    copy_collection(
        source, work / "ten-k", "bench", index["chunks"], synthetic=10_000 - index["chunks"]
    )
    measured["alone"] = _query_times(models, questions)
    measured["first_source_alone"] = _first_source(models, work / "ten-k", questions)
    measured["batching_alone"] = _batched_times(models["ONNX (shipped)"], questions)
    with _engine_busy(work):
        measured["loaded"] = _query_times(models, questions)
        measured["first_source_loaded"] = _first_source(models, work / "ten-k", questions)
        measured["batching_loaded"] = _batched_times(models["ONNX (shipped)"], questions)
    return measured


def _cpu() -> str:
    flags = Path("/proc/cpuinfo").read_text()
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{machine()}; {simd}"


def _table(r: dict[str, Any], key: str) -> str:
    lines = ["| backend | p50 ms | p95 ms | max ms |", "| --- | ---: | ---: | ---: |"]
    for name, times in r[key].items():
        s = summary(times)
        lines.append(f"| {name} | {fmt(s['p50'])} | {fmt(s['p95'])} | {fmt(max(times))} |")
    return "\n".join(lines)


def section(r: dict[str, Any]) -> Section:
    alone, loaded = r["alone"], r["loaded"]
    onnx, torch = "ONNX (shipped)", "PyTorch"
    p50 = statistics.median(alone[onnx])
    p95_loaded = summary(loaded[onnx])["p95"]
    ttfs = statistics.median(r["first_source_alone"][onnx])
    ingest = r["ingestion"]["rates"][onnx]
    ratio = statistics.fmean(ingest["ingest"]) / statistics.fmean(ingest["model"])
    recall = {name: rows["plain words"]["r@4"] for name, rows in r["recall"].items()}
    lines = [
        f"Host: {r['cpu']}. Questions: the {len(alone[onnx])} Python-docs questions "
        "of section 11, every backend on every question, the order rotated per question.",
        "",
        "**One question's embedding, alone**",
        "",
        _table(r, "alone"),
        "",
        f"**The same, while the engine generates for {USERS} users** (llama.cpp, 4 slots, "
        "2 threads, on the same 2 cores)",
        "",
        _table(r, "loaded"),
        "",
        "**Time to first source at 10,000 chunks, in process** (embed the question, "
        f"query Chroma; {r['corpus']['chunks']:,} Python-docs chunks and synthetic vectors)",
        "",
        _table(r, "first_source_alone"),
        "",
        "Under the same load:",
        "",
        _table(r, "first_source_loaded"),
        "",
        f"**{USERS} questions at once** (ONNX; the time for all four, one by one through the "
        "model against gathered into batches by `BatchedQueryEmbeddings`)",
        "",
        "| | one by one p50 ms | gathered p50 ms |",
        "| --- | ---: | ---: |",
    ]
    for key, label in (("batching_alone", "alone"), ("batching_loaded", "engine busy")):
        b = r[key]
        lines.append(
            f"| {label} | {fmt(statistics.median(b['one by one']))} | "
            f"{fmt(statistics.median(b['gathered']))} |"
        )
    lines += ["", *ingestion_lines(r["ingestion"], r["whole corpus"], (torch, onnx, INT8))]
    lines += [
        "",
        f"**Retrieval**: one index of the Python docs ({r['corpus']['chunks']:,} chunks, "
        f"built through ONNX in {r['corpus']['seconds']:.0f} s), each backend embedding the "
        "questions; recall by document, title boost on",
        "",
        "| backend | set | recall@4 | recall@10 | MRR |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name, rows in r["recall"].items():
        for set_name, m in rows.items():
            lines.append(
                f"| {name} | {set_name} | {m['r@4']:.0%} | {m['r@10']:.0%} | {m['mrr']:.3f} |"
            )
    lines += [
        "",
        verdict(p50 <= 8, f"query embedding p50 alone {fmt(p50)} ms (goal ≤ 8)"),
        verdict(p95_loaded <= 25, f"p95 while the engine generates {fmt(p95_loaded)} ms (≤ 25)"),
        verdict(ttfs <= 15, f"first source at 10k chunks p50 {fmt(ttfs)} ms (≤ 15)"),
        verdict(ratio >= 0.9, f"ingestion {ratio:.2f}x the model's own throughput (≥ 0.9)"),
        verdict(
            abs(recall[onnx] - recall[torch]) * len(QUESTIONS) <= 1,
            f"recall@4 ONNX {recall[onnx]:.0%} against PyTorch {recall[torch]:.0%}",
        ),
    ]
    headline = [
        f"Question embedding p50 alone: PyTorch {fmt(statistics.median(alone[torch]))} ms, "
        f"ONNX {fmt(p50)} ms; p95 with the engine busy: PyTorch "
        f"{fmt(summary(loaded[torch])['p95'])} ms, ONNX {fmt(p95_loaded)} ms (section 23)",
    ]
    return Section(
        23, "Embedding backends: PyTorch and ONNX Runtime", "\n".join(lines), headline=headline
    )


if __name__ == "__main__":
    run_alone(run, section, "bench-embedding-backends-")
