"""``POST /summarize/sse``: a streaming summary of one long document, as server-sent events.

The same :class:`~chains.summarize.StreamingSummarizer` is served by LangServe at
``/summarize`` (so ``RemoteRunnable(".../summarize").astream()`` yields these events),
and this route streams its events with the encoder and framing of ``/rag/sse``: it
resolves the document first, then iterates ``summarize()``, which ``astream()`` calls
too, so the document is read once.
Before the stream starts: a body that is not one document (empty, both or neither of
``content`` and ``doc_id``, too long) is a 422, and an unknown ``doc_id`` or ``kb`` a 404
(a ``kb`` the caller's key may not read is the same 404).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sse_starlette.sse import EventSourceResponse

from app.auth.dependencies import CallerDep, require_reader
from app.deps import KbQuery, ServicesDep, kb_of, open_kb
from app.streams.sse_encoder import PING_SECONDS, SSE_HEADERS, encode
from chains.summarize import SummaryRequest

router = APIRouter(
    prefix="/summarize", tags=["summarization"], dependencies=[Depends(require_reader)]
)


@router.post("/sse", response_class=EventSourceResponse)
async def summarize_sse(
    body: SummaryRequest, services: ServicesDep, caller: CallerDep, kb: KbQuery = ""
) -> EventSourceResponse:
    """Summarize a document given inline or by id: progress per part, then the summary."""
    body = body.model_copy(update={"kb": kb_of(body.kb, kb)})
    await open_kb(services, caller, body.kb)
    source = await services.summarizer.resolve(body)  # an unknown doc_id: 404
    return EventSourceResponse(
        encode(services.shutdown.guard(services.summarizer.summarize(source))),
        headers=SSE_HEADERS,
        ping=PING_SECONDS,
    )
