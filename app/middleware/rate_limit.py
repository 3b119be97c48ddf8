"""A per-client rate limit (``RAG_RATE_LIMIT``) on the streaming and write routes.

The counting is the ``limits`` library's moving window in memory, so a limit holds
per process (several workers each count their own). Limited: every ``POST`` (questions
through ``/rag/*``, summaries, ingestion) and ``GET /rag/sse``, the browser's stream.
Not limited: health, metrics, the page, schemas and the docs. A client is its API key
when it sent a valid one (``request.user``, resolved before this middleware runs), else
its IP address, as uvicorn reports it (behind a proxy, run uvicorn with
``--proxy-headers``).
Over the limit: 429 with ``Retry-After`` (seconds until the window frees a request).
"""

from __future__ import annotations

import math
import time

import limits
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def is_limited(method: str, path: str) -> bool:
    """Whether a request counts against the limit: streams and writes only."""
    return method == "POST" or (method == "GET" and path == "/rag/sse")


class RateLimitMiddleware:
    """ASGI middleware: 429 + ``Retry-After`` once a client passes ``rate``.

    Example:
        >>> app.add_middleware(RateLimitMiddleware, rate="30/minute")

    """

    def __init__(self, app: ASGIApp, *, rate: str) -> None:
        self.app = app
        self.item = limits.parse(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count a limited request for its client; answer 429 when it is over the limit."""
        if scope["type"] != "http" or not is_limited(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        client = _client_of(scope)
        if self.limiter.hit(self.item, client):
            await self.app(scope, receive, send)
            return
        reset = self.limiter.get_window_stats(self.item, client).reset_time
        retry_after = max(1, math.ceil(reset - time.time()))
        detail = f"rate limit of {self.item} exceeded; retry in {retry_after} s"
        response = JSONResponse(
            {"detail": detail}, status_code=429, headers={"Retry-After": str(retry_after)}
        )
        await response(scope, receive, send)


def _client_of(scope: Scope) -> str:
    """Whom a request counts for: its key's id, else its address."""
    key_id = getattr(scope.get("user"), "key_id", None)
    if key_id is not None:
        return f"key:{key_id}"
    return f"ip:{scope['client'][0]}" if scope.get("client") else "ip:unknown"
