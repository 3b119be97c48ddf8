"""A scripted OpenAI-compatible chat server: the load generator of the benchmarks.

It is not a model. It streams ``tokens`` short deltas per request, ``rate`` per second
(0 means as fast as it can), so the stack's own cost and its behaviour under many
concurrent streams can be measured without a model's cost drowning them. The script
is set per run with ``PUT /script`` (``{"tokens": N, "rate": R}``), so one server and
one app under test serve every scenario.

Run: ``python -m bench.scripted_llm --port 8300``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

SCRIPT = {"tokens": 64, "rate": 0.0}


def _chunk(content: str | None, finish: str | None = None) -> bytes:
    delta = {} if content is None else {"content": content}
    body = {
        "id": "scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


async def _stream(tokens: int, rate: float) -> AsyncIterator[bytes]:
    yield _chunk("")
    started = time.monotonic()
    for i in range(tokens):
        if rate:
            # Keep to the schedule rather than sleeping a fixed gap, so lateness does not add up.
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        yield _chunk(f" w{i}")
    yield _chunk(None, "stop")
    yield b"data: [DONE]\n\n"


async def chat(request: Request) -> StreamingResponse:
    await request.body()
    return StreamingResponse(
        _stream(int(SCRIPT["tokens"]), float(SCRIPT["rate"])), media_type="text/event-stream"
    )


async def models(request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [{"id": "scripted", "object": "model"}]})


async def script(request: Request) -> JSONResponse:
    SCRIPT.update({k: float(v) for k, v in (await request.json()).items() if k in SCRIPT})
    return JSONResponse(SCRIPT)


app = Starlette(
    routes=[
        Route("/v1/models", models),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/script", script, methods=["PUT"]),
    ]
)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=4096)
