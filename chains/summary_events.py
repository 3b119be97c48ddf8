"""The summary stream's events: the split, each part's summary, the final one's tokens."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chains.events import ErrorEvent, EventModel, TokenEvent


class SummaryStartEvent(EventModel):
    """A summary begins: the document and how it was split for the model."""

    type: Literal["summary_start"] = "summary_start"
    document_id: str
    title: str
    total_chunks: int
    total_chars: int


class SummaryChunkEvent(EventModel):
    """One part of the document is summarized (parts finish in any order)."""

    type: Literal["summary_chunk"] = "summary_chunk"
    chunk_index: int
    progress: int = Field(ge=0, le=100, description="share of the parts summarized so far")
    partial_summary: str


class SummaryMetrics(EventModel):
    """Timings of one summary, in milliseconds from the request."""

    first_token_ms: float | None = Field(description="the final summary's first token")
    total_ms: float
    token_count: int
    tokens_per_sec: float | None
    model_calls: int = Field(description="parts, collapse steps and the final summary")


class SummaryDoneEvent(EventModel):
    """The last event of a good summary stream."""

    type: Literal["summary_done"] = "summary_done"
    final_summary: str
    metrics: SummaryMetrics


SummaryEvent = SummaryStartEvent | SummaryChunkEvent | TokenEvent | SummaryDoneEvent | ErrorEvent
"""Every event of a summary stream; ``token`` carries the final summary as it is written."""
