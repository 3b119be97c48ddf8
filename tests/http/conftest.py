"""A scripted OpenAI-compatible server, used only to force slow or failing LLM behaviour.

It never stands in for the real model in a feature test; the model name chooses the
script: ``slow-N`` streams N tokens 50 ms apart, ``die-after-N`` sends N tokens then
drops the connection mid-stream, ``fast-N`` streams N tokens as fast as it can. Every
request is recorded with when it started and when its stream ended or was cut off by
the client.
"""

import asyncio
import json
import re
import time
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route


@dataclass
class ScriptedCall:
    model: str
    started: float
    tokens_sent: int = 0
    ended: float | None = None
    client_disconnected: bool = False


@dataclass
class ScriptedLLM:
    calls: list[ScriptedCall] = field(default_factory=list)
    url: str = ""

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


def _chunk(content: str | None, finish: str | None = None) -> str:
    delta = {} if content is None else {"content": content}
    body = {
        "id": "scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


def build_scripted_llm_app(record: ScriptedLLM) -> Starlette:
    async def models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

    async def chat(request: Request) -> StreamingResponse:
        body = await request.json()
        call = ScriptedCall(model=body["model"], started=time.monotonic())
        record.calls.append(call)
        kind, count = re.fullmatch(r"(slow|die-after|fast)-(\d+)", body["model"]).groups()
        count = int(count)

        async def stream():
            try:
                yield _chunk("")
                for i in range(count):
                    if kind == "slow":
                        await asyncio.sleep(0.05)
                    yield _chunk(f" t{i}")
                    call.tokens_sent += 1
                if kind == "die-after":
                    raise ConnectionResetError("scripted: the model server died mid-stream")
                yield _chunk(None, "stop")
                yield "data: [DONE]\n\n"
            except asyncio.CancelledError:
                call.client_disconnected = True
                raise
            finally:
                call.ended = time.monotonic()

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(
        routes=[Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])]
    )


@pytest.fixture
def scripted_llm(serve):
    record = ScriptedLLM()
    with serve(build_scripted_llm_app(record)) as server:
        record.url = server.url
        yield record
