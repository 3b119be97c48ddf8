"""The typed event protocol (DESIGN section 4): one model per event ``type``.

This module imports nothing of ours, so the callback handler, the chains and the routes
can all depend on it. :func:`error_event_for` is the one place where library exceptions
become our error codes; a client only ever sees ``code``, ``message`` and ``retryable``,
never exception text or a traceback.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
import openai
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StatusEvent(_Event):
    """A phase change: ``retrieving``, ``generating``."""

    type: Literal["status"] = "status"
    phase: str
    message: str


class SourceEvent(_Event):
    """One retrieved chunk; all of them precede the first token."""

    type: Literal["source"] = "source"
    index: int
    id: str | None
    doc_id: str | None
    cite: str
    content: str
    score: float = Field(ge=0.0, le=1.0)
    metadata: dict[str, Any]


class TtftEvent(_Event):
    """Time to first token, sent just before the first ``token``."""

    type: Literal["ttft"] = "ttft"
    ms: float


class TokenEvent(_Event):
    """One LLM delta; concatenated in order they equal ``done.answer``."""

    type: Literal["token"] = "token"
    content: str


class CitationEvent(_Event):
    """The first appearance of a citation key in the answer."""

    type: Literal["citation"] = "citation"
    cite: str
    source_id: str | None
    valid: bool
    token_index: int


class Metrics(_Event):
    """Timings of one answer, from a monotonic clock started when the request arrived."""

    retrieval_ms: float | None
    ttfs_ms: float | None
    ttft_ms: float | None
    total_ms: float
    token_count: int
    tokens_per_sec: float | None


class DoneEvent(_Event):
    """The last event of a good stream."""

    type: Literal["done"] = "done"
    answer: str
    cited: list[str]
    uncited: list[str]
    invalid_citations: list[str]
    metrics: Metrics


class ErrorEvent(_Event):
    """The last event of a failed stream; events already sent stay valid."""

    type: Literal["error"] = "error"
    code: str
    message: str
    retryable: bool


RagEvent = (
    StatusEvent | SourceEvent | TtftEvent | TokenEvent | CitationEvent | DoneEvent | ErrorEvent
)
"""Every event of the answer stream."""


def error_event_for(exc: BaseException) -> ErrorEvent:
    """Map an exception raised while answering to a client-safe error event."""
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return ErrorEvent(
            code="llm_timeout", message="The language model timed out.", retryable=True
        )
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return ErrorEvent(
            code="llm_unavailable",
            message="The language model server is unreachable or closed the stream.",
            retryable=True,
        )
    if isinstance(exc, openai.RateLimitError):
        return ErrorEvent(
            code="llm_rate_limited", message="The language model is rate limited.", retryable=True
        )
    if isinstance(exc, openai.APIStatusError):
        retryable = exc.status_code >= 500
        return ErrorEvent(
            code="llm_error" if retryable else "llm_rejected",
            message=f"The language model answered HTTP {exc.status_code}.",
            retryable=retryable,
        )
    return ErrorEvent(code="internal", message="The answer failed on the server.", retryable=False)


class PipelineStartEvent(_Event):
    """An ingestion run begins."""

    type: Literal["pipeline_start"] = "pipeline_start"
    total_docs: int


class DocStageEvent(_Event):
    """A document reached a stage: received, chunked, embedding, embedded, indexing, ready.

    Only the counts that belong to the stage are sent (``dims`` with ``embedded``...).
    """

    type: Literal["doc_stage"] = "doc_stage"
    doc_id: str
    index: int = Field(description="position of the document in the request")
    stage: Literal["received", "chunked", "embedding", "embedded", "indexing", "ready"]
    num_chunks: int | None = None
    dims: int | None = None
    num_chunks_indexed: int | None = None
    stale_removed: int | None = None

    @model_serializer(mode="wrap")
    def _only_this_stage_counts(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}


class DocErrorEvent(_Event):
    """A document could not be indexed; the others go on."""

    type: Literal["doc_error"] = "doc_error"
    doc_id: str | None = Field(description="null when the document had no valid id")
    index: int = Field(description="position of the document in the request")
    error: str


class PipelineDoneEvent(_Event):
    """An ingestion run ended."""

    type: Literal["pipeline_done"] = "pipeline_done"
    indexed: int
    failed: int
    collection_size: int
    elapsed_ms: float


IngestEvent = PipelineStartEvent | DocStageEvent | DocErrorEvent | PipelineDoneEvent
"""Every event of an ingestion run."""
