"""``POST /rag/sse`` and ``GET /rag/sse``: the typed event stream over server-sent events.

Both iterate the ``astream()`` of the same :class:`~callbacks.event_stream.RagEventStream`
that LangServe serves at ``/rag/events``, so both doors keep its guarantee: the request
is validated before the stream starts (422 with the field named); once it has started,
a failure is one ``error`` event, then the end.

Streams are resumable (:mod:`app.streams.resume`) unless ``RAG_RESUME_GRACE_S`` is 0: event ids
are ``<stream>-<n>``, and ``GET /rag/sse`` with a ``Last-Event-ID`` header sends the
events after that one, then the live rest (404 when no buffer holds the stream).
A ``kb`` naming no knowledge base, or one the caller's key may not read, is the same
404 before any event. A stream belongs to the key that started it: resuming or
cancelling it with another key is the 404 of an unknown stream.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from sse_starlette.sse import EventSourceResponse

from app.auth.dependencies import CallerDep, require_reader
from app.auth.principal import Principal
from app.deps import KbQuery, ServicesDep, kb_of, open_kb, stream_request
from app.services import Services
from app.streams.buffers import ResumeGapError, UnknownStreamError
from app.streams.resume import ResumableStreams, parse_event_id
from app.streams.sse_encoder import PING_SECONDS, SSE_HEADERS, encode
from callbacks import StreamRequest

router = APIRouter(prefix="/rag", tags=["streaming"], dependencies=[Depends(require_reader)])

_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": StreamRequest.model_json_schema()}},
    }
}


@router.post("/sse", openapi_extra=_BODY_SCHEMA, response_class=EventSourceResponse)
async def rag_sse(
    request: Request, services: ServicesDep, caller: CallerDep, kb: KbQuery = ""
) -> EventSourceResponse:
    """Answer a question as typed server-sent events: sources first, then tokens."""
    try:
        body = await request.json()
    except (ValueError, RecursionError) as exc:  # not JSON, or nested past Python's limit
        raise RequestValidationError(
            [{"loc": ["body"], "msg": "body must be JSON", "type": "json_invalid"}]
        ) from exc
    if kb and isinstance(body, dict):
        body = {**body, "kb": kb_of(str(body.get("kb") or ""), kb)}
    return await _respond(services, caller, body)


@router.get("/sse", response_class=EventSourceResponse)
async def rag_sse_get(
    services: ServicesDep,
    caller: CallerDep,
    q: str | None = Query(None, description="The question (not needed to resume)."),
    k: int | None = Query(None, description="How many sources to retrieve (1..20)."),
    filter: str | None = Query(None, description='JSON metadata filter, e.g. {"topic":"x"}.'),
    stream_sources: bool = Query(True),
    progressive: bool | None = Query(None, description="Progressive context (waves)."),
    kb: KbQuery = "",
    last_event_id: str | None = Header(
        None, description="Resume the stream this event id belongs to, after that event."
    ),
) -> EventSourceResponse:
    """The same stream for the browser's ``EventSource``, which can only send GET.

    ``EventSource`` sends ``Last-Event-ID`` by itself when it reconnects after a drop,
    so the same URL resumes the answer instead of asking again.
    """
    if last_event_id:
        return await _resume(services, caller, last_event_id)
    if q is None:
        raise RequestValidationError(
            [{"loc": ["query", "q"], "msg": "Field required", "type": "missing"}]
        )
    body: dict[str, Any] = {"question": q, "stream_sources": stream_sources, "kb": kb}
    if progressive is not None:
        body["progressive"] = progressive
    if k is not None:
        body["k"] = k
    if filter is not None:
        try:
            body["filter"] = json.loads(filter)
        except ValueError as exc:
            raise RequestValidationError(
                [{"loc": ["query", "filter"], "msg": "filter must be JSON", "type": "json_invalid"}]
            ) from exc
    return await _respond(services, caller, body)


@router.delete("/sse/{stream_id}", status_code=204, response_class=Response)
async def rag_sse_cancel(stream_id: str, services: ServicesDep, caller: CallerDep) -> Response:
    """Stop a resumable answer now (the page's Stop), instead of after the resume grace."""
    try:
        await _resumable(services).cancel(stream_id, owner=caller.identity)
    except UnknownStreamError as exc:
        raise HTTPException(404, f"{exc}: the stream is unknown or expired.") from exc
    return Response(status_code=204)


async def _respond(services: Services, caller: Principal, body: Any) -> EventSourceResponse:
    """Validate ``body`` now (a 422 before any event), then stream its answer."""
    stream = services.event_stream
    request = stream_request(services, body)
    await open_kb(services, caller, request.kb)  # unknown or not readable: 404, before any event
    if services.resumable is None:
        events = encode(stream.astream(request))
    else:
        stream_id = await services.resumable.start(request, owner=caller.identity)
        events = await services.resumable.read(stream_id, owner=caller.identity)
    return EventSourceResponse(events, headers=SSE_HEADERS, ping=PING_SECONDS)


async def _resume(
    services: Services, caller: Principal, last_event_id: str
) -> EventSourceResponse:
    """The events after ``last_event_id``, then the live rest; 404 if none is buffered.

    A stream belongs to the key that started it: any other caller gets the same 404 as
    for a stream that never existed.
    """
    streams = _resumable(services)
    try:
        stream_id, number = parse_event_id(last_event_id)
        events = await streams.read(stream_id, after=number, owner=caller.identity)
    except UnknownStreamError as exc:
        raise HTTPException(
            404,
            f"{exc}: the stream is unknown or expired, or it runs on another worker "
            "without a shared RAG_REDIS_URL. Ask again.",
        ) from exc
    except ResumeGapError as exc:
        raise HTTPException(410, f"{exc} from the resume buffer. Ask again.") from exc
    return EventSourceResponse(events, headers=SSE_HEADERS, ping=PING_SECONDS)


def _resumable(services: Services) -> ResumableStreams:
    """The app's resumable streams; 404 when there are none (``RAG_RESUME_GRACE_S=0``)."""
    if services.resumable is None:
        raise HTTPException(404, "Streams are not resumable here (RAG_RESUME_GRACE_S is 0).")
    return services.resumable
