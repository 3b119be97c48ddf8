"""What the MCP tools return: chunks with addresses, answers with citations and grounding.

The translating half of the MCP door (:mod:`app.mcp_server` is the other):
search hits and an answer's typed events become one result model, sent twice in the
tool result, as JSON text and as ``structuredContent`` (Claude Code reads only the
structured part, Open WebUI only the text), followed by one ``resource_link`` per
document, whose ``kb://{kb}/documents/{doc_id}`` address ``resources/read`` opens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from langchain_core.documents import Document
from mcp.types import CallToolResult, ContentBlock, ResourceLink, TextContent
from pydantic import AnyUrl, BaseModel, Field

from chains.events import DoneEvent, GroundingEvent, GroundingSummary, RagEvent, Source

MAX_RESULT_CHARS = 60_000
"""The chunk text one result may carry: about 15,000 tokens at four characters a token,
well under the 25,000 Claude Code accepts from one tool call by default."""

DOCUMENT_TEMPLATE = "kb://{kb}/documents/{doc_id}"
"""The address of a document's text, for ``resources/read``."""


def document_uri(kb: str, doc_id: str) -> str:
    """A document's address; its id is percent-encoded, so ``a/b.md`` stays one segment."""
    return DOCUMENT_TEMPLATE.format(kb=kb, doc_id=quote(doc_id, safe=""))


class Chunk(BaseModel):
    """One retrieved chunk, citable by ``id`` and resolvable by ``uri``."""

    id: str | None = Field(description="the chunk's id")
    doc_id: str | None = Field(description="the document it belongs to")
    title: str | None
    source: str | None
    score: float = Field(description="cosine similarity to the question, 0..1")
    text: str
    uri: str | None = Field(description="kb://{kb}/documents/{doc_id}: the whole document")
    cite: str | None = Field(None, description="the key the answer cites it by (ask only)")


class SearchResult(BaseModel):
    """The chunks nearest a query, best first."""

    kb: str
    query: str
    chunks: list[Chunk]
    truncated: bool = Field(description="true when chunks were cut to keep the result small")
    note: str | None = Field(None, description="why and where the result was cut")


class KnowledgeBaseEntry(BaseModel):
    """One knowledge base the key may read."""

    name: str
    documents: int
    chunks: int
    embedding_model: str
    default: bool
    access: list[str] = Field(description="what this key may do there: read, write")


class KnowledgeBaseList(BaseModel):
    """The knowledge bases the key may read, the default first."""

    knowledge_bases: list[KnowledgeBaseEntry]


class Citation(BaseModel):
    """A key the answer cited: ``valid`` false when it names no retrieved source."""

    cite: str
    source_id: str | None
    valid: bool


class GroundedSentence(BaseModel):
    """One sentence of the answer and the source that supports it best."""

    index: int
    text: str
    start: int
    end: int
    cite: str = Field(description="the best-supporting source's key")
    source_id: str | None
    score: float
    supported: bool
    cited: list[str] = Field(description="the keys the sentence itself cites")
    citation_supported: bool | None


class AnswerResult(BaseModel):
    """An answer with its sources, its citations checked, and each sentence grounded."""

    kb: str
    question: str
    answer: str
    sources: list[Chunk]
    citations: list[Citation]
    invalid_citations: list[str] = Field(description="keys cited that name no source")
    grounding: list[GroundedSentence]
    grounding_summary: GroundingSummary | None
    metrics: dict[str, Any]


class WriteResult(BaseModel):
    """What a write tool changed."""

    kb: str
    doc_id: str
    chunks: int = Field(description="chunks written (index) or removed (delete)")
    collection_size: int


def hit_chunk(kb: str, doc: Document) -> Chunk:
    """A search hit (metadata annotated by the retriever) as a chunk."""
    return _chunk(kb, doc.id, doc.page_content, doc.metadata, float(doc.metadata["score"]))


def source_chunk(kb: str, source: Source) -> Chunk:
    """An answer's source event as a chunk, with the key the answer cites it by."""
    chunk = _chunk(kb, source.id, source.content, source.metadata, source.score)
    return chunk.model_copy(update={"doc_id": source.doc_id or chunk.doc_id, "cite": source.cite})


def _chunk(
    kb: str, chunk_id: str | None, text: str, metadata: Mapping[str, Any], score: float
) -> Chunk:
    doc_id = metadata.get("doc_id")
    return Chunk(
        id=chunk_id,
        doc_id=str(doc_id) if doc_id is not None else None,
        title=_text(metadata.get("title")),
        source=_text(metadata.get("source")),
        score=round(score, 4),
        text=text,
        uri=document_uri(kb, str(doc_id)) if doc_id is not None else None,
    )


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def capped(
    chunks: Sequence[Chunk], budget: int = MAX_RESULT_CHARS
) -> tuple[list[Chunk], str | None]:
    """``chunks`` in order until their text fills ``budget``; the last one cut to fit.

    Returns the chunks kept and, when something was cut, a note saying what and why.
    """
    kept: list[Chunk] = []
    left = budget
    for position, chunk in enumerate(chunks):
        if len(chunk.text) <= left:
            kept.append(chunk)
            left -= len(chunk.text)
            continue
        if left > 0:
            kept.append(chunk.model_copy(update={"text": chunk.text[:left]}))
        note = (
            f"cut to {budget:,} characters of chunk text (about {budget // 4:,} tokens): "
            f"{len(kept)} of {len(chunks)} chunks, chunk {position + 1} "
            f"{'shortened' if left > 0 else 'left out'}; ask for fewer (k) or read a "
            "document through its uri"
        )
        return kept, note
    return kept, None


def tool_result(result: BaseModel, uris: Iterable[str | None]) -> CallToolResult:
    """``result`` as JSON text and as structured content, then a link per document."""
    links: list[ContentBlock] = [
        ResourceLink(type="resource_link", uri=AnyUrl(uri), name=uri, mimeType="text/plain")
        for uri in dict.fromkeys(u for u in uris if u)
    ]
    return CallToolResult(
        content=[TextContent(type="text", text=result.model_dump_json()), *links],
        structuredContent=result.model_dump(mode="json"),
    )


class AnswerCollector:
    """Gathers one answer's events into an :class:`AnswerResult`; names each stage reached.

    :meth:`add` returns a progress message when the answer reaches a stage worth telling
    a client that waits: the sources found, each later wave, every
    :attr:`TOKENS_PER_REPORT` tokens, grounding checked.
    """

    TOKENS_PER_REPORT = 16

    def __init__(self, kb: str, question: str) -> None:
        self.kb, self.question = kb, question
        self.sources: list[Chunk] = []
        self.citations: dict[str, Citation] = {}
        self.grounding: list[GroundingEvent] = []
        self.tokens = 0
        self.sources_told = False
        self.done: DoneEvent | None = None

    def add(self, event: RagEvent) -> str | None:
        """Take one event; return a progress message, or None when there is none to give."""
        if isinstance(event, Source):
            self.sources.append(source_chunk(self.kb, event))
            return None
        # Told at the first event after the sources (or at the end, when none was found).
        told = self._sources_found() if self.sources or event.type == "done" else None
        if event.type == "context_update":
            self.sources += [source_chunk(self.kb, source) for source in event.sources]
            return f"wave {event.wave} of {event.total_waves}: {len(event.new_ids)} more sources"
        if event.type == "revise":
            self.citations.clear()
            self.grounding.clear()
            self.tokens = 0
            return f"the answer restarts with wave {event.wave}'s sources"
        if event.type == "citation":
            self.citations.setdefault(event.cite, Citation(**event.model_dump(exclude={"type"})))
        elif event.type == "grounding":
            self.grounding.append(event)
        elif event.type == "token":
            self.tokens += 1
            if self.tokens % self.TOKENS_PER_REPORT == 0:
                return told or f"{self.tokens} tokens written"
        elif event.type == "done":
            self.done = event
            summary, tokens = event.grounding, event.metrics.token_count
            if summary is None:
                return f"done: {tokens} tokens"
            return f"done: {tokens} tokens, {summary.supported} of {summary.sentences} grounded"
        return told

    def _sources_found(self) -> str | None:
        if self.sources_told:
            return None
        self.sources_told = True
        return f"{len(self.sources)} sources found"

    def result(self) -> AnswerResult:
        """The answer as the ``done`` event closed it (call after it arrived)."""
        done = self.done
        if done is None:
            raise RuntimeError("the answer has not ended yet")
        answer = done.answer
        return AnswerResult(
            kb=self.kb,
            question=self.question,
            answer=answer,
            sources=self.sources,
            citations=list(self.citations.values()),
            invalid_citations=done.invalid_citations,
            grounding=[
                GroundedSentence(
                    **g.model_dump(exclude={"type"}), text=answer[g.start : g.end].strip()
                )
                for g in self.grounding
            ],
            grounding_summary=done.grounding,
            metrics=done.metrics.model_dump(exclude_none=True),
        )
