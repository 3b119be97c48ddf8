"""The MCP door's translator: chunk addresses, the size cap, an answer's events gathered."""

import json

import pytest
from langchain_core.documents import Document

from app.protocols.mcp_results import (
    AnswerCollector,
    Chunk,
    capped,
    document_uri,
    hit_chunk,
    tool_result,
)
from chains.events import (
    CitationEvent,
    ContextUpdateEvent,
    DoneEvent,
    GroundingEvent,
    GroundingSummary,
    Metrics,
    ReviseEvent,
    Source,
    TokenEvent,
    TtftEvent,
)


def chunk(text, n=0):
    return Chunk(id=f"c{n}", doc_id="d", title=None, source=None, score=0.5, text=text, uri=None)


def test_document_uri_keeps_an_id_with_slashes_in_one_segment():
    assert document_uri("docs", "guide/intro.md") == "kb://docs/documents/guide%2Fintro.md"


def test_search_hit_carries_its_ids_score_title_source_and_address():
    hit = Document(
        id="faq:3",
        page_content="text",
        metadata={"doc_id": "faq", "score": 0.81234, "title": "FAQ", "source": "faq.md"},
    )
    made = hit_chunk("handbook", hit)
    assert (made.id, made.doc_id, made.title, made.source) == ("faq:3", "faq", "FAQ", "faq.md")
    assert made.score == 0.8123 and made.uri == "kb://handbook/documents/faq"


def test_capped_keeps_everything_that_fits_and_says_nothing():
    chunks = [chunk("a" * 10, n) for n in range(3)]
    assert capped(chunks, budget=30) == (chunks, None)


def test_capped_shortens_the_chunk_that_overflows_and_drops_the_rest_saying_so():
    chunks = [chunk("a" * 10, n) for n in range(4)]
    kept, note = capped(chunks, budget=25)
    assert [c.text for c in kept] == ["a" * 10, "a" * 10, "a" * 5]
    assert note is not None and "3 of 4 chunks" in note and "shortened" in note


def test_capped_result_of_the_largest_search_stays_under_25000_tokens():
    chunks = [chunk("word " * 2000, n) for n in range(20)]  # k=20 chunks of 10,000 characters
    kept, note = capped(chunks)
    result = tool_result(_search(kept, note), [])
    assert note is not None
    assert len(result.content[0].text) / 4 < 20_000  # four characters a token, generously


def _search(chunks, note):
    from app.protocols.mcp_results import SearchResult

    return SearchResult(kb="kb", query="q", chunks=chunks, truncated=True, note=note)


def test_tool_result_sends_the_same_data_as_text_and_structure_with_one_link_per_document():
    chunks = [
        chunk("x", 0).model_copy(update={"uri": "kb://kb/documents/a"}),
        chunk("y", 1).model_copy(update={"uri": "kb://kb/documents/a"}),
        chunk("z", 2).model_copy(update={"uri": "kb://kb/documents/b"}),
    ]
    result = tool_result(_search(chunks, None), (c.uri for c in chunks))
    assert json.loads(result.content[0].text) == result.structuredContent
    assert [str(b.uri) for b in result.content[1:]] == [
        "kb://kb/documents/a",
        "kb://kb/documents/b",
    ]


def _source(index, doc_id):
    return Source(
        index=index,
        id=f"{doc_id}:0",
        doc_id=doc_id,
        cite=f"doc-{index + 1:03d}",
        content=f"text of {doc_id}",
        score=0.7,
        metadata={"doc_id": doc_id},
    )


def _done(answer, tokens, grounding=None):
    metrics = Metrics(
        retrieval_ms=1.0,
        ttfs_ms=1.0,
        ttft_ms=2.0,
        total_ms=3.0,
        token_count=tokens,
        tokens_per_sec=None,
    )
    return DoneEvent(
        answer=answer,
        cited=["doc-001"],
        uncited=[],
        invalid_citations=["doc-009"],
        metrics=metrics,
        grounding=grounding,
    )


def test_answer_collector_reports_each_stage_once_in_order():
    collector = AnswerCollector("kb", "q")
    events = [
        _source(0, "a"),
        _source(1, "b"),
        TtftEvent(ms=2.0),
        *[TokenEvent(content="w ") for _ in range(32)],
        ContextUpdateEvent(
            wave=2, total_waves=2, new_ids=["c:0"], context_ids=["c:0"], sources=[_source(2, "c")]
        ),
        _done(
            "w " * 32,
            32,
            GroundingSummary(
                sentences=1,
                supported=1,
                supported_share=1.0,
                unsupported=[],
                wrong_citations=0,
                complete=True,
            ),
        ),
    ]
    told = [m for m in (collector.add(e) for e in events) if m is not None]
    assert told == [
        "2 sources found",
        "16 tokens written",
        "32 tokens written",
        "wave 2 of 2: 1 more sources",
        "done: 32 tokens, 1 of 1 grounded",
    ]
    assert [s.cite for s in collector.result().sources] == ["doc-001", "doc-002", "doc-003"]


def test_answer_collector_drops_citations_and_grounding_of_a_revised_answer():
    collector = AnswerCollector("kb", "q")
    answer = "Backpressure slows the producer [doc-002]."
    for event in [
        _source(0, "a"),
        _source(1, "b"),
        CitationEvent(cite="doc-001", source_id="a:0", valid=True, token_index=3),
        ReviseEvent(wave=2, reason="better sources"),
        CitationEvent(cite="doc-002", source_id="b:0", valid=True, token_index=5),
        CitationEvent(cite="doc-002", source_id="b:0", valid=True, token_index=9),
        GroundingEvent(
            index=0,
            start=0,
            end=len(answer),
            cite="doc-002",
            source_id="b:0",
            score=0.8,
            supported=True,
            cited=["doc-002"],
            citation_supported=True,
        ),
        _done(answer, 7),
    ]:
        collector.add(event)
    result = collector.result()
    assert [c.cite for c in result.citations] == ["doc-002"]
    assert [g.text for g in result.grounding] == [answer]
    assert result.invalid_citations == ["doc-009"] and result.answer == answer


def test_answer_collector_result_before_done_is_an_error():
    with pytest.raises(RuntimeError, match="not ended"):
        AnswerCollector("kb", "q").result()
