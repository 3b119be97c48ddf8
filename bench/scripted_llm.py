"""A scripted OpenAI-compatible chat server: a load generator and a fault injector.

It is not a model, and it never stands in for one in a feature test. It streams the
deltas of its current :class:`Script`: a given token list (to check that exactly what
the model sent reaches the client), or ``N`` short deltas ``" w0"``, ``" w1"``...; at
``rate`` deltas per second (0: as fast as it can); optionally dropping the connection
after ``die_after`` deltas. The benchmarks use it to measure the stack's own cost under
many streams, the tests to force slow, failing or citing answers.

The script is set with ``PUT /script`` (``{"tokens": 64, "rate": 30}``) or, in process,
by assigning :attr:`ScriptedLLM.script`. Every request is recorded as a :class:`Call`:
when it started, how many deltas went out, when it ended, whether the client left.

Run: ``python -m bench.scripted_llm --port 8300``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route


@dataclass
class Script:
    """What every request is answered with until the script changes."""

    tokens: list[str] | int = 64
    rate: float = 0.0
    die_after: int | None = None
    stall_after: int | None = None
    """Send this many tokens, then hold the connection open and send nothing (a hang)."""
    fail_first: int = 0
    """Answer the first this-many requests with HTTP 503 before any stream starts."""

    def deltas(self) -> list[str]:
        """The content deltas to stream, in order."""
        if isinstance(self.tokens, int):
            return [f" w{i}" for i in range(self.tokens)]
        return list(self.tokens)


@dataclass
class Call:
    """One chat request as the server saw it."""

    body: dict[str, Any]
    started: float
    tokens_sent: int = 0
    ended: float | None = None
    client_disconnected: bool = False


@dataclass
class ScriptedLLM:
    """The server's state: its script and the requests it has answered (latest last)."""

    script: Script = field(default_factory=Script)
    calls: deque[Call] = field(default_factory=lambda: deque(maxlen=10_000))
    url: str = ""

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, once :attr:`url` is known."""
        return f"{self.url}/v1"

    def app(self) -> Starlette:
        """The ASGI app serving ``/v1/models``, ``/v1/chat/completions`` and ``/script``."""
        return Starlette(
            routes=[
                Route("/v1/models", _models),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/script", self._set_script, methods=["PUT"]),
            ]
        )

    async def _chat(self, request: Request) -> StreamingResponse | JSONResponse:
        call = Call(body=await request.json(), started=time.monotonic())
        self.calls.append(call)
        if len(self.calls) <= self.script.fail_first:
            call.ended = call.started
            return JSONResponse({"error": {"message": "scripted: overloaded"}}, status_code=503)
        return StreamingResponse(_stream(self.script, call), media_type="text/event-stream")

    async def _set_script(self, request: Request) -> JSONResponse:
        self.script = Script(**await request.json())
        return JSONResponse({"tokens": self.script.tokens, "rate": self.script.rate})


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


async def _stream(script: Script, call: Call) -> AsyncIterator[bytes]:
    try:
        yield _chunk("")
        started = time.monotonic()
        for i, delta in enumerate(script.deltas()):
            if script.die_after is not None and i == script.die_after:
                raise ConnectionResetError("scripted: the model server died mid-stream")
            if script.stall_after is not None and i == script.stall_after:
                await asyncio.Event().wait()  # hangs until the client gives up
            if script.rate:
                # Keep to the schedule rather than sleeping a fixed gap, so lateness does not add up.
                delay = started + i / script.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield _chunk(delta)
            call.tokens_sent += 1
        yield _chunk(None, "stop")
        yield b"data: [DONE]\n\n"
    except asyncio.CancelledError:
        call.client_disconnected = True
        raise
    finally:
        call.ended = time.monotonic()


async def _models(request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [{"id": "scripted", "object": "model"}]})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    uvicorn.run(ScriptedLLM().app(), host="127.0.0.1", port=port, log_level="warning", backlog=4096)
