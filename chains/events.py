"""The typed event protocol (DESIGN section 4): one model per event ``type``.

This module imports nothing of ours, so the callback handler, the chains and the routes
can all depend on it. It also owns the one description of a retrieved source: its
citation key format (:func:`cite_key`), the metadata values a source may carry
(:data:`MetadataValue`) and the mapping from a retrieved ``Document`` to a
:class:`Source`, which is both an item of the RAG chain's ``sources`` and the payload of
a ``source`` event. The ingestion and summary streams' events build on its
:class:`EventModel` in :mod:`chains.ingest_events` and :mod:`chains.summary_events`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Literal

from asgi_correlation_id import correlation_id
from langchain_core.documents import Document
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

MetadataValue = str | int | float | bool
"""A metadata value Chroma can store and filter on; metadata is flat."""

CITE_KEY_FORMAT = "doc-{:03d}"
"""How a source is cited: ``doc-001`` is the first source the retriever ranked."""


def cite_key(rank: int) -> str:
    """The citation key of the source at 0-based ``rank``: ``doc-001`` for the first."""
    return CITE_KEY_FORMAT.format(rank + 1)


class EventModel(BaseModel):
    """An event's payload: its fields are the protocol, nothing else is accepted."""

    model_config = ConfigDict(extra="forbid")


class SentWhenSet(EventModel):
    """An event whose fields in ``_sent_when_set`` are left out of its JSON while None."""

    _sent_when_set: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        payload: dict[str, Any] = handler(self)
        return {k: v for k, v in payload.items() if v is not None or k not in self._sent_when_set}


class StatusEvent(SentWhenSet):
    """A phase change: ``retrieving``, ``widening``, ``rewriting``, ``generating``...

    ``query`` is sent only on a follow-up's ``retrieving``: what its first search is for
    (the follow-up joined to the earlier question).
    """

    _sent_when_set = frozenset({"query"})

    type: Literal["status"] = "status"
    phase: str
    message: str
    query: str | None = None


class Source(EventModel):
    """One retrieved chunk: an item of the chain's ``sources`` and a ``source`` event.

    All sources of an answer precede its first token.
    """

    type: Literal["source"] = "source"
    index: int
    id: str | None
    doc_id: str | None
    cite: str
    content: str
    score: float = Field(ge=0.0, le=1.0)
    metadata: dict[str, Any]

    @classmethod
    def from_document(cls, doc: Document, index: int) -> Source:
        """Describe a chunk the retriever annotated with ``score`` and ``cite`` metadata.

        Example:
            >>> Source.from_document(Document(page_content="...", id="faq:0",
            ...     metadata={"doc_id": "faq", "score": 0.8, "cite": "doc-001"}), 0).cite
            'doc-001'

        """
        meta = doc.metadata
        return cls(
            index=index,
            id=doc.id,
            doc_id=meta.get("doc_id"),
            cite=meta["cite"],
            content=doc.page_content.strip(),  # stored chunks keep their edge whitespace
            score=meta["score"],
            metadata={k: v for k, v in meta.items() if k not in ("score", "cite")},
        )


class ContextUpdateEvent(SentWhenSet):
    """A later wave of progressive context finished: the sources it adds, its ranking.

    ``sources`` are the chunks no earlier event showed, keyed ``doc-005`` onwards; they
    come after tokens, which is why they travel here and not as ``source`` events.
    """

    type: Literal["context_update"] = "context_update"
    wave: int = Field(ge=2)
    total_waves: int
    new_ids: list[str | None]
    context_ids: list[str | None] = Field(description="the wave's ranking, best first")
    sources: list[Source] = Field(description="the new chunks, in the order of new_ids")
    query: str | None = Field(
        None,
        description="a follow-up's standalone question, which this wave searched (sent only then)",
    )
    _sent_when_set = frozenset({"query"})


class ReviseEvent(EventModel):
    """The answer restarts on an enriched context: a client clears the draft."""

    type: Literal["revise"] = "revise"
    wave: int
    reason: str


class TtftEvent(EventModel):
    """Time to first token, sent just before the first ``token``."""

    type: Literal["ttft"] = "ttft"
    ms: float


class TokenEvent(EventModel):
    """One LLM delta; concatenated in order they equal ``done.answer``."""

    type: Literal["token"] = "token"
    content: str


class CitationEvent(EventModel):
    """The first appearance of a citation key in the answer."""

    type: Literal["citation"] = "citation"
    cite: str
    source_id: str | None
    valid: bool
    token_index: int


class GroundingEvent(EventModel):
    """One finished sentence of the answer, scored against the answer's sources.

    ``start``/``end`` are character offsets in the answer (the concatenated tokens),
    end exclusive. ``cite``/``source_id``/``score`` name the source closest to the
    sentence; ``supported`` is whether it reaches the support threshold.
    ``citation_supported`` is null when the sentence cites nothing, else whether every
    key it cites names a source that supports it.
    """

    type: Literal["grounding"] = "grounding"
    index: int
    start: int
    end: int
    cite: str
    source_id: str | None
    score: float
    supported: bool
    cited: list[str]
    citation_supported: bool | None


class GroundingSummary(EventModel):
    """``done.grounding``: every checked sentence of the final answer, summed up."""

    sentences: int
    supported: int
    supported_share: float | None = Field(description="null when no sentence was checked")
    unsupported: list[list[int]] = Field(description="the [start, end] of each one")
    wrong_citations: int = Field(description="sentences whose cited source does not support them")
    complete: bool = Field(description="false when the check failed or ran out of time")

    @classmethod
    def empty(cls) -> GroundingSummary:
        """An answer with no sentence to check (no model call, or no text)."""
        return cls(
            sentences=0, supported=0, supported_share=None, unsupported=[], wrong_citations=0,
            complete=True,
        )


class Metrics(SentWhenSet):
    """Timings of one answer, from a monotonic clock started when the request arrived."""

    retrieval_ms: float | None
    ttfs_ms: float | None
    ttft_ms: float | None
    total_ms: float
    token_count: int
    tokens_per_sec: float | None
    wave1_ttft_ms: float | None = Field(
        None, description="progressive: first token of the draft written from wave 1"
    )
    last_wave_ms: float | None = Field(None, description="progressive: the last wave finished")
    rewrite_ms: float | None = Field(
        None, description="follow-up: how long the standalone question took (sent only then)"
    )
    prompt_tokens: int | None = Field(
        None, description="the answer's prompt as the engine counted it (sent when it reports)"
    )
    completion_tokens: int | None = Field(
        None, description="the tokens the engine wrote for the answer (sent when it reports)"
    )
    _sent_when_set = frozenset({"rewrite_ms", "prompt_tokens", "completion_tokens"})


class DoneEvent(SentWhenSet):
    """The last event of a good stream."""

    type: Literal["done"] = "done"
    answer: str
    cited: list[str]
    uncited: list[str]
    invalid_citations: list[str]
    metrics: Metrics
    waves: list[int] | None = Field(
        None, description="progressive: the waves that gave the final answer's context"
    )
    request_id: str | None = Field(
        default_factory=lambda: correlation_id.get(),
        description="the X-Request-ID of the HTTP request that asked (null outside one)",
    )
    grounding: GroundingSummary | None = Field(
        None, description="live grounding's summary (sent only while it is on)"
    )
    _sent_when_set = frozenset({"grounding"})


class ErrorEvent(EventModel):
    """The last event of a failed stream; events already sent stay valid."""

    type: Literal["error"] = "error"
    code: str
    message: str
    retryable: bool
    request_id: str | None = Field(
        default_factory=lambda: correlation_id.get(),
        description="the X-Request-ID of the HTTP request that asked (null outside one)",
    )


RagEvent = (
    StatusEvent
    | Source
    | ContextUpdateEvent
    | ReviseEvent
    | TtftEvent
    | TokenEvent
    | CitationEvent
    | GroundingEvent
    | DoneEvent
    | ErrorEvent
)
"""Every event of the answer stream."""


Ask = Callable[[dict[str, Any]], AsyncIterator[RagEvent]]
"""One request body in, its typed events out: the event stream's ``astream`` in process,
or a client reading a server's ``/rag/sse`` (the CLI's ``chat`` and ``eval`` take either)."""
