"""The one place where an event becomes SSE wire format (``id:``, ``event:``, ``data:``).

Routes hand typed events to :func:`encode` and pass the result to sse-starlette's
``EventSourceResponse``; none of them writes SSE text itself.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette.sse import ServerSentEvent

from chains.events import RagEvent
from chains.ingest_events import IngestEvent
from chains.summary_events import SummaryEvent

EventStream = AsyncIterator[RagEvent] | AsyncIterator[IngestEvent] | AsyncIterator[SummaryEvent]
"""Typed events, each with a ``type`` field."""

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
"""No caching, and no buffering in nginx-style proxies, so each event leaves at once."""

PING_SECONDS = 15


async def encode(events: EventStream) -> AsyncIterator[ServerSentEvent]:
    """Number the events from 1 and frame each as ``id``/``event``/``data`` (JSON)."""
    number = 0
    async for event in events:
        number += 1
        yield ServerSentEvent(
            id=str(number),
            event=event.type,
            data=event.model_dump_json(),
        )


async def encode_data(payloads: AsyncIterator[dict[str, Any]]) -> AsyncIterator[ServerSentEvent]:
    """Frame each payload as a bare ``data:`` line of JSON, then ``data: [DONE]``.

    The framing OpenAI's chat completions and the AI SDK's UI message stream share:
    no ids, no event names; the type is inside the JSON.
    """
    async for payload in payloads:
        yield ServerSentEvent(data=json.dumps(payload, separators=(",", ":")))
    yield ServerSentEvent(data="[DONE]")
