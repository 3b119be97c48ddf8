"""Refuse request bodies over ``RAG_MAX_BODY_BYTES`` with 413, before they are read whole.

A declared ``Content-Length`` over the limit is refused before a byte of the body is
read. A body sent without one (chunked) is counted as it arrives and refused as soon as
it passes the limit: the 413 goes out, and the app reads a disconnect, so a route never
holds more than the limit in memory.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    """ASGI middleware: 413 for bodies over ``max_bytes``.

    Example:
        >>> app.add_middleware(BodyLimitMiddleware, max_bytes=16 * 1024 * 1024)

    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, counting its body; answer 413 when it is too large."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        refused = False

        async def counted_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer now, and tell the app the client is gone so it stops reading.
                    refused = True
                    await self._refuse(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # after a 413, whatever the app still says is dropped
                await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise
            # The route failed on the disconnect we fed it (ClientDisconnect); answered.

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 with Starlette's own JSON response; the connection closes after it."""
        detail = f"the request body is larger than the limit of {self.max_bytes} bytes"
        response = JSONResponse(
            {"detail": detail}, status_code=413, headers={"Connection": "close"}
        )
        await response(scope, receive, send)
