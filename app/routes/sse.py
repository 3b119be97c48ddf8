"""``POST /rag/sse`` and ``GET /rag/sse``: the typed event stream over server-sent events.

Both iterate the ``astream()`` of the same :class:`~callbacks.event_stream.RagEventStream`
that LangServe serves at ``/rag/events``, so both doors keep its guarantee: the request
is validated before the stream starts (422 with the field named); once it has started,
a failure is one ``error`` event, then the end.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sse_starlette.sse import EventSourceResponse

from app.deps import ServicesDep, require_read_key
from app.sse_encoder import PING_SECONDS, SSE_HEADERS, encode
from callbacks import RagEventStream, StreamRequest

router = APIRouter(prefix="/rag", tags=["streaming"], dependencies=[Depends(require_read_key)])

_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": StreamRequest.model_json_schema()}},
    }
}


@router.post("/sse", openapi_extra=_BODY_SCHEMA, response_class=EventSourceResponse)
async def rag_sse(request: Request, services: ServicesDep) -> EventSourceResponse:
    """Answer a question as typed server-sent events: sources first, then tokens."""
    try:
        body = await request.json()
    except (ValueError, RecursionError) as exc:  # not JSON, or nested past Python's limit
        raise RequestValidationError(
            [{"loc": ["body"], "msg": "body must be JSON", "type": "json_invalid"}]
        ) from exc
    return _respond(services.event_stream, body)


@router.get("/sse", response_class=EventSourceResponse)
async def rag_sse_get(
    services: ServicesDep,
    q: str = Query(..., description="The question."),
    k: int | None = Query(None, description="How many sources to retrieve (1..20)."),
    filter: str | None = Query(None, description='JSON metadata filter, e.g. {"topic":"x"}.'),
    stream_sources: bool = Query(True),
    progressive: bool | None = Query(None, description="Progressive context (waves)."),
) -> EventSourceResponse:
    """The same stream for the browser's ``EventSource``, which can only send GET."""
    body: dict[str, Any] = {"question": q, "stream_sources": stream_sources}
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
    return _respond(services.event_stream, body)


def _respond(stream: RagEventStream, body: Any) -> EventSourceResponse:
    """Validate ``body`` now (a 422 before any event), then stream its answer."""
    try:
        request = stream.input_model.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from exc
    return EventSourceResponse(
        encode(stream.astream(request)), headers=SSE_HEADERS, ping=PING_SECONDS
    )
