"""``/mcp``: the Model Context Protocol door over streamable HTTP, for agents.

Stateless: every POST is answered on its own (no ``Mcp-Session-Id`` to keep, so any
worker answers any request), as server-sent events, so ``ask``'s progress
notifications reach the client while it waits. Without a session there is no stream
to ``GET`` and none to ``DELETE``: those are 405, which clients expect of such a
server. ``/mcp`` and ``/mcp/`` are the same door. The route is an ordinary FastAPI
route, so the key check (``require_reader``), the rate limit, the body limit and the
error shapes are those of every other door; the tools then check each knowledge base a
call names (:mod:`app.mcp_server`).

The SDK's session manager runs only once, so :func:`mcp_sessions` builds a fresh one
each time the app starts (tests start one app several times).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from app.auth.dependencies import require_reader
from app.mcp_server import build_mcp_server
from app.services import Services

router = APIRouter(tags=["mcp"], dependencies=[Depends(require_reader)])

LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


@asynccontextmanager
async def mcp_sessions(app: FastAPI, services: Services) -> AsyncIterator[None]:
    """Run the MCP server's session manager while the app runs."""
    settings = services.settings
    server = build_mcp_server(
        services,
        allowed_hosts=settings.mcp_allowed_hosts,
        allowed_origins=[*LOOPBACK_ORIGINS, *settings.cors_origins],
    )
    server.streamable_http_app()  # creates the session manager the route hands requests to
    async with server.session_manager.run():
        app.state.mcp_sessions = server.session_manager
        try:
            yield
        finally:
            del app.state.mcp_sessions


class _Exchange(Response):
    """Hands the request's ASGI exchange to the MCP session manager, which answers it."""

    def __init__(self, sessions: StreamableHTTPSessionManager) -> None:
        super().__init__()
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.sessions.handle_request(scope, receive, send)


@router.post("/mcp", response_class=Response)
@router.post("/mcp/", response_class=Response, include_in_schema=False)
async def mcp(request: Request) -> Response:
    """The MCP endpoint (streamable HTTP): tools ``search``, ``ask``, ``list_knowledge_bases``.

    Point an MCP client at it with ``Authorization: Bearer <key>`` when keys are on.
    """
    sessions: StreamableHTTPSessionManager | None = getattr(request.app.state, "mcp_sessions", None)
    if sessions is None:
        raise HTTPException(503, "the MCP door starts with the app's lifespan")
    return _Exchange(sessions)
