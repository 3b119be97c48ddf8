"""The ingestion stream's events: a run's start, each document's stages, its end.

``POST /index/sse`` sends them as they happen, ``POST /index`` sums them up, and
``streaming-rag ingest`` prints them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chains.events import ErrorEvent, EventModel, SentWhenSet


class PipelineStartEvent(EventModel):
    """An ingestion run begins."""

    type: Literal["pipeline_start"] = "pipeline_start"
    total_docs: int


class DocStageEvent(SentWhenSet):
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
    _sent_when_set = frozenset({"num_chunks", "dims", "num_chunks_indexed", "stale_removed"})


class DocErrorEvent(EventModel):
    """A document could not be indexed; the others go on."""

    type: Literal["doc_error"] = "doc_error"
    doc_id: str | None = Field(description="null when the document had no valid id")
    index: int = Field(description="position of the document in the request")
    error: str


class PipelineDoneEvent(EventModel):
    """An ingestion run ended."""

    type: Literal["pipeline_done"] = "pipeline_done"
    indexed: int
    failed: int
    collection_size: int
    elapsed_ms: float


IngestEvent = PipelineStartEvent | DocStageEvent | DocErrorEvent | PipelineDoneEvent | ErrorEvent
"""Every event of an ingestion run; ``error`` ends a run that failed as a whole."""
