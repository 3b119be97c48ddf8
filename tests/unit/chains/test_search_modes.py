"""Keyword search, incremental (widening) search and hybrid fusion on a real Chroma store."""

from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.documents import Document

from chains.chunking import InputDocument, build_splitter
from chains.events import Source
from chains.ingest import Ingestor
from chains.keyword import KEYWORD_MIN_COVERAGE, KeywordRetriever, exact_terms, keyword_terms
from chains.progressive import HybridRetriever, StableKeys, changes_materially, in_key_order
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, build_vector_store
from chains.widening import WideningRetriever, relaxed_filters

pytestmark = pytest.mark.anyio

DOCS = [
    InputDocument(
        id="quota",
        content="Error ZQX-4471 means the disk quota of the vector store is exhausted.",
        metadata={"topic": "errors", "year": 2024},
    ),
    InputDocument(
        id="bread",
        content="Sourdough bread rises slowly in a cool kitchen overnight.",
        metadata={"topic": "food", "year": 2023},
    ),
    InputDocument(
        id="hnsw",
        content="HNSW graphs make approximate nearest neighbour search fast.",
        metadata={"topic": "vector-search", "year": 2024},
    ),
    InputDocument(
        id="sse",
        content="Server-sent events stream text lines over one HTTP response.",
        metadata={"topic": "streaming", "year": 2024},
    ),
]


@pytest.fixture
def store(tmp_path, embeddings, index_all):
    client = build_chroma_client(path=tmp_path / "chroma")
    store = build_vector_store(client, "test", embeddings)
    index_all(Ingestor(store, build_splitter()), DOCS)
    return store


@pytest.fixture
def vector(store):
    return ScoredRetriever(vectorstore=store, k=2)


@pytest.fixture
def keyword(store):
    return KeywordRetriever(vectorstore=store, k=2)


class WideningLog(AsyncCallbackHandler):
    """Collects the ``widening`` custom events a retriever dispatches."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []

    async def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        if name == "widening":
            self.steps.append(data)


def test_keyword_terms_are_lower_case_words_without_stop_words():
    assert keyword_terms("What is Error ZQX-4471 in v2.1?") == ["error", "zqx", "4471", "v2", "1"]


def test_keyword_search_finds_the_chunk_holding_a_rare_identifier(keyword):
    hits = keyword.invoke("What is ZQX-4471?")
    assert hits[0].metadata["doc_id"] == "quota"
    assert hits[0].metadata["coverage"] >= KEYWORD_MIN_COVERAGE
    assert hits[0].metadata["cite"] == "doc-001"
    assert 0.0 <= hits[0].metadata["score"] <= 1.0


def test_keyword_coverage_is_low_when_only_common_words_match(keyword):
    hits = keyword.invoke("What does the flux capacitor of the vector store need?")
    assert hits, "'vector store' appears in a chunk"
    assert all(hit.metadata["coverage"] < KEYWORD_MIN_COVERAGE for hit in hits)


def test_keyword_search_returns_nothing_when_no_word_matches(keyword):
    assert keyword.invoke("zebra xylophone") == []


def test_keyword_search_on_an_empty_collection_finds_nothing(tmp_path, embeddings):
    """Regression: an empty collection failed to build its index (a reshape of no vectors),
    so every question to a fresh install ended with an internal error."""
    store = build_vector_store(build_chroma_client(path=tmp_path / "empty"), "empty", embeddings)
    assert KeywordRetriever(vectorstore=store, k=2).invoke("What is HNSW?") == []


def test_keyword_search_applies_the_metadata_filter(keyword):
    assert keyword.invoke("ZQX-4471 stream", filter={"topic": "streaming"})[0].metadata[
        "doc_id"
    ] == ("sse")


async def test_keyword_index_sees_a_document_indexed_after_it_was_built(store, keyword):
    assert keyword.invoke("pelican") == []
    ingestor = Ingestor(store, build_splitter())
    events = [e async for e in ingestor.run([{"id": "bird", "content": "A pelican eats fish."}])]
    assert events[-1].type == "pipeline_done"
    assert keyword.invoke("pelican")[0].metadata["doc_id"] == "bird"


def test_relaxed_filters_drop_the_last_key_first_then_all():
    assert relaxed_filters({"topic": "sse", "year": 2024, "lang": "en"}) == [
        {"topic": "sse", "year": 2024},
        {"topic": "sse"},
        {},
    ]
    assert relaxed_filters({}) == []


async def test_search_that_clears_the_threshold_does_not_widen(vector, keyword):
    log = WideningLog()
    retriever = WideningRetriever(vector=vector, keyword=keyword, min_score=0.3)
    hits = await retriever.ainvoke("How do HNSW graphs search?", {"callbacks": [log]})
    assert hits[0].metadata["doc_id"] == "hnsw" and hits[0].metadata["score"] >= 0.3
    assert log.steps == []


async def test_filter_is_relaxed_in_order_until_a_source_clears(vector, keyword):
    log = WideningLog()
    retriever = WideningRetriever(vector=vector, keyword=keyword, min_score=0.3)
    hits = await retriever.ainvoke(
        "How do HNSW graphs search?",
        {"callbacks": [log]},
        filter={"topic": "food", "year": 2024},
    )
    assert [s["step"] for s in log.steps] == ["larger_k", "relax_filter", "relax_filter"]
    assert "{'topic': 'food'}" in log.steps[1]["message"]
    assert "none" in log.steps[2]["message"]
    assert hits[0].metadata["doc_id"] == "hnsw"


async def test_keyword_step_finds_what_no_vector_search_clears(vector, keyword):
    log = WideningLog()
    retriever = WideningRetriever(vector=vector, keyword=keyword, min_score=0.95)
    hits = await retriever.ainvoke("ZQX-4471", {"callbacks": [log]})
    assert [s["step"] for s in log.steps] == ["larger_k", "keyword"]
    assert [h.metadata["doc_id"] for h in hits] == ["quota"]
    assert hits[0].metadata["cite"] == "doc-001"


async def test_nothing_clears_so_the_search_returns_no_sources(vector, keyword):
    log = WideningLog()
    retriever = WideningRetriever(vector=vector, keyword=keyword, min_score=0.3)
    assert await retriever.ainvoke("Who painted the Mona Lisa?", {"callbacks": [log]}) == []
    assert [s["step"] for s in log.steps] == ["larger_k", "keyword", "nothing"]


def test_sync_widening_takes_the_same_steps(vector, keyword):
    log = WideningLog()
    retriever = WideningRetriever(vector=vector, keyword=keyword, min_score=0.95)
    assert [h.metadata["doc_id"] for h in retriever.invoke("ZQX-4471")] == ["quota"]
    assert log.steps == []  # no handler given: the steps still run, unobserved


async def test_hybrid_search_ranks_a_keyword_match_the_vector_search_ranks_low(vector, keyword):
    question = "Is ZQX-4471 about streaming responses?"
    by_vector = [h.metadata["doc_id"] for h in vector.invoke(question, k=4)]
    fused = await HybridRetriever(vector=vector, keyword=keyword).ainvoke(question, k=2)
    assert by_vector.index("quota") > 0, "precondition: embeddings alone rank it lower"
    assert fused[0].metadata["doc_id"] == "quota"
    assert all(0.0 <= hit.metadata["score"] <= 1.0 for hit in fused)


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("What does pathlib.Path.stat do?", ["pathlib.Path.stat"]),
        ("What does on_llm_new_token do?", ["on_llm_new_token"]),
        ("Is ZQX-4471 about streaming?", ["ZQX-4471"]),
        ("How does BM25 rank?", ["BM25"]),
        ("Which flag sets MAX_RETRIES, and is it camelCase?", ["MAX_RETRIES", "camelCase"]),
        ("What is an EventSource and when is main() called?", ["EventSource", "main()"]),
        ("What does `k` mean?", ["`k`"]),
        ("How do I get __init__ generated?", ["__init__"]),
        ("Why stream tokens?", []),
        ("Why is 0.1 + 0.2 not 0.3, and what is HNSW?", []),
        ("How do I handle an HTTP 404 error?", []),
    ],
)
def test_exact_terms_are_names_and_codes_not_plain_words(question, terms):
    assert exact_terms(question) == terms


async def test_hybrid_search_keeps_the_vector_ranking_for_a_question_naming_no_exact_term(
    vector, keyword
):
    question = "Which text lines does one response stream slowly?"
    by_vector = [h.id for h in await vector.ainvoke(question, k=3)]
    always = HybridRetriever(vector=vector, keyword=keyword, exact_terms_only=False)
    fused = [h.id for h in await always.ainvoke(question, k=3)]
    assert fused != by_vector, "precondition: fusing would change this ranking"
    wave = HybridRetriever(vector=vector, keyword=keyword)
    assert [h.id for h in await wave.ainvoke(question, k=3)] == by_vector
    assert [h.id for h in wave.invoke(question, k=3)] == by_vector


def source(index: int, chunk_id: str, doc_id: str | None = None) -> Source:
    return Source(
        index=index,
        id=chunk_id,
        doc_id=doc_id or chunk_id,
        cite=f"doc-{index + 1:03d}",
        content=chunk_id,
        score=0.5,
        metadata={},
    )


def test_stable_keys_keep_known_chunks_keys_and_number_new_ones_on():
    first = [source(0, "a"), source(1, "b")]
    keys = StableKeys(first)
    ranked = keys.sources_for(
        [
            Document(id=i, page_content=i, metadata={"doc_id": i, "score": 0.4})
            for i in ("c", "a", "d")
        ]
    )
    assert [(s.id, s.cite) for s in ranked] == [
        ("c", "doc-003"),
        ("a", "doc-001"),
        ("d", "doc-004"),
    ]
    assert [s.cite for s in in_key_order(ranked)] == ["doc-001", "doc-003", "doc-004"]


def test_a_wave_changes_the_context_materially_only_when_its_best_is_a_chunk_the_draft_lacks():
    a, b, c = source(0, "a"), source(1, "b"), source(2, "c")
    assert not changes_materially([a], [a, c, b], first_k=1)
    assert changes_materially([a], [c, a, b], first_k=1)
    assert changes_materially([a], [a, c], first_k=2)
    assert not changes_materially([a, c], [c, a, b], first_k=2)


def test_another_chunk_of_a_drafted_document_is_a_material_change():
    """An API question's best chunk is often in the chapter the draft cites (bench 11)."""
    first, second = source(0, "guide:0", "guide"), source(1, "guide:3", "guide")
    assert changes_materially([first], [second, first], first_k=1)
