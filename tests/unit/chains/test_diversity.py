"""Diverse sources: a document is capped while others can take its place; neighbours merge."""

from langchain_core.documents import Document

from chains.chunking import InputDocument, build_splitter, chunk_document
from chains.diversity import diversify

MANUAL = InputDocument(
    id="manual",
    content=" ".join(f"Sentence {n} of the long user manual about branches." for n in range(120)),
)


def _hits(*picks: tuple[str, int], score: float = 0.9) -> list[Document]:
    """Chunks of ``MANUAL`` (any doc id) in the given rank order, scores falling."""
    chunks = chunk_document(MANUAL, build_splitter(200, 40), context=False)
    out = []
    for rank, (doc_id, position) in enumerate(picks):
        chunk = chunks[position]
        meta = {**chunk.metadata, "doc_id": doc_id, "score": round(score - rank / 100, 4)}
        out.append(
            Document(id=f"{doc_id}:{position}", page_content=chunk.page_content, metadata=meta)
        )
    return out


def test_a_document_past_its_cap_gives_its_slot_to_the_next_document() -> None:
    hits = _hits(("manual", 2), ("manual", 9), ("manual", 14), ("faq", 0), ("stash", 3))
    sources = diversify(hits, k=4, per_document=2)
    assert [s.id for s in sources] == ["manual:2", "manual:9", "faq:0", "stash:3"]
    assert [s.metadata["cite"] for s in sources] == ["doc-001", "doc-002", "doc-003", "doc-004"]


def test_the_only_matching_document_still_fills_every_slot() -> None:
    hits = _hits(("manual", 2), ("manual", 9), ("manual", 14), ("manual", 20))
    assert [s.id for s in diversify(hits, k=4, per_document=1)] == [
        "manual:2",
        "manual:9",
        "manual:14",
        "manual:20",
    ]


def test_neighbouring_chunks_merge_into_one_source_with_the_text_in_document_order() -> None:
    hits = _hits(("manual", 5), ("faq", 1), ("manual", 4), ("stash", 0))
    chunks = chunk_document(MANUAL, build_splitter(200, 40), context=False)
    sources = diversify(hits, k=3, per_document=1)
    assert [s.id for s in sources] == ["manual:4-5", "faq:1", "stash:0"]
    merged = sources[0]
    start = chunks[4].metadata["start_index"]
    end = chunks[5].metadata["start_index"] + len(chunks[5].page_content)
    assert merged.page_content == MANUAL.content[start:end]
    assert merged.metadata["chunk_count"] == 2
    assert merged.metadata["score"] == hits[0].metadata["score"]


def test_no_cap_keeps_the_ranking_as_it_is() -> None:
    hits = _hits(("manual", 2), ("manual", 3), ("manual", 4), ("faq", 0))
    sources = diversify(hits[1:], k=3, per_document=0)
    assert [s.id for s in sources] == ["manual:3", "manual:4", "faq:0"]
    assert [s.page_content for s in sources] == [h.page_content for h in hits[1:]]
    assert [s.metadata["cite"] for s in sources] == ["doc-001", "doc-002", "doc-003"]
