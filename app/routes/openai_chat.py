"""``/v1``: OpenAI's chat completions and models, for every OpenAI client and front end.

``POST /v1/chat/completions`` answers the last user message from the knowledge base the
model id names (:mod:`app.protocols.openai_chat`): chunks as server-sent events ending
``data: [DONE]`` when ``stream`` is true, else one ``chat.completion``. ``GET
/v1/models`` lists one model id per knowledge base the caller's key may read. Both ask
for a key as the question routes do (``RAG_PROTECT_READS``), and a model whose knowledge
base the key may not read is the 404 of an unknown model; refusals are in OpenAI's error form
(:mod:`app.protocols.error_shapes`). A client that disconnects cancels the answer, which
closes its model request.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator
from typing import Any, cast

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse, Response
from sse_starlette.sse import EventSourceResponse

from app.auth.dependencies import CallerDep, require_reader
from app.auth.principal import Principal
from app.deps import ServicesDep, open_kb, stream_request
from app.protocols.openai_chat import (
    ChatCompletionRequest,
    CompletionChunks,
    completion,
    kb_of_model,
    model_ids,
    openai_turns,
    stream_input,
)
from app.services import Services
from app.streams.sse_encoder import PING_SECONDS, SSE_HEADERS, encode_data
from callbacks import StreamRequest
from chains.events import RagEvent

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Depends(require_reader)])


@router.get("/models")
async def models(services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """One model per readable knowledge base: ``rag`` (the default), ``rag:<name>``."""
    infos = await asyncio.to_thread(services.kbs.describe)
    default = next(info.name for info in infos if info.default)
    names = [info.name for info in infos if services.access.may_read(caller, info.name)]
    ids = model_ids(names, default)
    data = [{"id": i, "object": "model", "created": 0, "owned_by": "streaming-rag"} for i in ids]
    return {"object": "list", "data": data}


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, services: ServicesDep, caller: CallerDep
) -> EventSourceResponse | Response:
    """Answer the conversation's last user message, streamed or whole."""
    request = await _stream_request(services, caller, body)
    chunks = CompletionChunks(
        f"chatcmpl-{uuid.uuid4().hex}", body.model, token_limit=body.token_limit
    )
    if not body.stream:
        whole = await completion(chunks, services.event_stream.astream(request))
        if chunks.failed is not None:
            return JSONResponse(whole, status_code=503 if chunks.failed.retryable else 500)
        return JSONResponse(whole)
    return EventSourceResponse(
        encode_data(_streamed(services, request, chunks, usage=body.include_usage)),
        headers=SSE_HEADERS,
        ping=PING_SECONDS,
    )


async def _stream_request(
    services: Services, caller: Principal, body: ChatCompletionRequest
) -> StreamRequest:
    """The event stream's input, checked before any chunk: 400 or 404 in OpenAI's form."""
    try:
        kb = kb_of_model(body.model)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    request = stream_request(services, stream_input(openai_turns(body), kb=kb, k=body.k))
    await open_kb(services, caller, kb)
    return request


async def _streamed(
    services: Services, request: StreamRequest, chunks: CompletionChunks, *, usage: bool
) -> AsyncGenerator[dict[str, Any], None]:
    # A finish at max_tokens closes the event stream now, and with it the model request.
    answer = cast(AsyncGenerator[RagEvent, None], services.event_stream.astream(request))
    async with contextlib.aclosing(answer) as events:
        async for chunk in chunks.translate(events):
            yield chunk
    if usage and chunks.failed is None:
        yield chunks.usage_chunk()

