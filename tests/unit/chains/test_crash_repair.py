"""A replacement between its two writes: read consistently, and repaired after a crash."""

import time

import pytest

from chains.chunking import InputDocument, build_splitter, chunk_document
from chains.documents import document_text
from chains.ingest import Ingestor, repair_interrupted_replacements
from chains.keyword import KeywordRetriever
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, build_vector_store


def text(tag, count):
    return "\n\n".join(f"{tag} paragraph {i}: " + "words " * 40 for i in range(count))


@pytest.fixture
def half_replaced(tmp_path, embeddings, index_all):
    """A store where "doc" is mid-replacement: the new version's upsert landed (as
    another process's write, or before a kill -9), the deletion of the old extras not."""
    store = build_vector_store(build_chroma_client(path=tmp_path / "chroma"), "crash", embeddings)
    splitter = build_splitter(300, 0)
    index_all(Ingestor(store, splitter), [{"id": "doc", "content": text("old", 6)}])
    index_all(Ingestor(store, splitter), [{"id": "other", "content": text("other", 3)}])
    old_count = len(store.get(where={"doc_id": "doc"})["ids"])
    new = InputDocument(id="doc", content=text("new", 2))
    chunks, version = chunk_document(new, splitter), time.time_ns()
    store._collection.upsert(
        ids=[str(c.id) for c in chunks],
        embeddings=embeddings.embed_documents([c.page_content for c in chunks]),
        documents=[c.page_content for c in chunks],
        metadatas=[{**c.metadata, "indexed_at": version} for c in chunks],
    )
    mixed = store.get(where={"doc_id": "doc"}, include=["documents"])["documents"]
    assert {t.split()[0] for t in mixed} == {"old", "new"}, "state not built"
    return store, new, old_count - len(chunks)


def test_reads_mid_replacement_see_only_the_new_version_of_the_document(half_replaced):
    store, new, _ = half_replaced
    question = "old or new paragraph"  # words of both versions
    vector_hits = ScoredRetriever(vectorstore=store, k=10).invoke(question)
    keyword_hits = KeywordRetriever(vectorstore=store, k=10).invoke(question)
    for hits in (vector_hits, keyword_hits):
        doc_texts = [h.page_content.split()[0] for h in hits if h.metadata["doc_id"] == "doc"]
        assert doc_texts, "the search found no chunk of the document"
        assert set(doc_texts) == {"new"}
    assert document_text(store, "doc") == new.content


def test_repair_keeps_the_newest_whole_version_of_a_half_replaced_document(half_replaced):
    store, new, stale_count = half_replaced

    repaired = repair_interrupted_replacements(store)

    assert repaired == {"doc": stale_count}
    assert document_text(store, "doc") == new.content
    assert document_text(store, "other") == text("other", 3), "a whole document is untouched"
    assert repair_interrupted_replacements(store) == {}, "nothing is left to repair"
