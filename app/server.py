"""The FastAPI app factory: composes services, routes and lifespan from ``Settings``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from langchain_core.embeddings import Embeddings
from starlette.middleware.authentication import AuthenticationMiddleware

from app.auth.access import KeyBackend
from app.error_handlers import add_error_handlers
from app.middleware.body_limit import BodyLimitMiddleware
from app.middleware.observability import RequestLogMiddleware
from app.middleware.page_security import PageSecurityMiddleware
from app.middleware.rate_limit import RateLimitMiddleware
from app.protocols.error_shapes import ProtocolErrorsMiddleware
from app.routes import (
    documents,
    health,
    ingest,
    kbs,
    keys,
    mcp,
    metrics,
    openai_chat,
    page,
    sse,
    summarize,
    ui_chat,
)
from app.routes.langserve import add_langserve_routes
from app.services import build_services
from app.settings import Settings

__all__ = ["create_app"]

_log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, *, embeddings: Embeddings | None = None
) -> FastAPI:
    """Build the service.

    The LLM server is not started here: the CLI starts the local one (or the settings
    point at a remote one) before the app serves.

    Example:
        >>> app = create_app(Settings(chroma_path=Path("/tmp/chroma")))
        >>> uvicorn.run(app, port=8000)

    """
    settings = settings or Settings()
    services = build_services(settings, embeddings=embeddings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(services.parser.start)
        # The default knowledge base's document cards, so its first question pays no scan;
        # a store that cannot be read now is the first question's error to report, not ours.
        try:
            await asyncio.to_thread(services.retriever.warm)
        except Exception:
            _log.warning("the title boost's document cards could not be read", exc_info=True)
        async with mcp.mcp_sessions(app, services):
            yield
        await services.close()

    app = FastAPI(
        title="streaming-rag",
        version="0.1.0",
        description="Sources first, then the answer token by token, with live citations.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.access = services.access
    add_error_handlers(app)
    # The last added runs first: the request id, the log line and its count, the
    # protocol doors' error shapes, CORS (preflights), who is asking (once per request),
    # the rate limit (per key, else per client), the body limit, the page's CSP.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(PageSecurityMiddleware)
    if settings.rate_limit:
        app.add_middleware(RateLimitMiddleware, rate=settings.rate_limit)
    app.add_middleware(AuthenticationMiddleware, backend=KeyBackend(services.access))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestLogMiddleware, metrics=services.metrics)
    app.add_middleware(ProtocolErrorsMiddleware)
    app.add_middleware(
        CorrelationIdMiddleware, header_name="X-Request-ID", validator=_is_usable_request_id
    )
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(sse.router)
    app.include_router(ingest.router)
    app.include_router(documents.router)
    app.include_router(kbs.router)
    app.include_router(keys.router)
    app.include_router(page.router)
    app.mount("/static", page.static_files(), name="static")
    app.include_router(summarize.router)
    app.include_router(openai_chat.router)
    app.include_router(ui_chat.router)
    app.include_router(mcp.router)
    add_langserve_routes(
        app,
        {
            "/rag": services.rag_chain,
            "/rag/events": services.event_stream,
            "/summarize": services.summarizer,
        },
    )
    return app


def _is_usable_request_id(value: str) -> bool:
    """Keep a proxy's request id when it is short printable ASCII; else make a new one."""
    return 0 < len(value) <= 128 and value.isascii() and value.isprintable()
