"""``POST /ui/chat``: the Vercel AI SDK's UI message stream, for ``useChat``.

Point ``useChat`` (its ``DefaultChatTransport``) at ``/ui/chat``; ``kb`` and ``k`` in the
transport's ``body`` (or ``?kb=``) pick the knowledge base and the number of sources.
The stream is :mod:`app.protocols.ui_messages`: sources as ``source-document`` parts
before any text, the answer as text parts, citations, waves and metrics as ``data-*``
parts, ``finish`` or ``error``, then ``[DONE]``. A refusal before the stream is the
message as plain text (:mod:`app.protocols.error_shapes`). A client that disconnects
cancels the answer, which closes its model request.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends
from sse_starlette.sse import EventSourceResponse

from app.auth.dependencies import CallerDep, require_reader
from app.deps import KbQuery, ServicesDep, kb_of, open_kb, stream_request
from app.protocols.openai_chat import stream_input
from app.protocols.ui_messages import UI_STREAM_HEADERS, UIChatRequest, UIMessageChunks, ui_turns
from app.streams.sse_encoder import PING_SECONDS, SSE_HEADERS, encode_data

router = APIRouter(prefix="/ui", tags=["ai sdk"], dependencies=[Depends(require_reader)])


@router.post("/chat", response_class=EventSourceResponse)
async def ui_chat(
    body: UIChatRequest, services: ServicesDep, caller: CallerDep, kb: KbQuery = ""
) -> EventSourceResponse:
    """Answer the chat's last user message as a UI message stream."""
    name = kb_of(body.kb, kb)
    request = stream_request(services, stream_input(ui_turns(body), kb=name, k=body.k))
    await open_kb(services, caller, name)
    chunks = UIMessageChunks(f"msg-{uuid.uuid4().hex}")
    return EventSourceResponse(
        encode_data(chunks.translate(services.event_stream.astream(request))),
        headers={**SSE_HEADERS, **UI_STREAM_HEADERS},
        ping=PING_SECONDS,
    )
