"""The FastAPI app factory: composes services, routes and lifespan from ``Settings``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from langchain_core.embeddings import Embeddings

from app.routes import health, ingest, page, sse, summarize
from app.routes.langserve import add_langserve_routes
from app.services import build_services
from app.settings import Settings

__all__ = ["create_app"]


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
        yield
        await services.close()

    app = FastAPI(
        title="streaming-rag",
        version="0.1.0",
        description="Sources first, then the answer token by token, with live citations.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.include_router(health.router)
    app.include_router(sse.router)
    app.include_router(ingest.router)
    app.include_router(page.router)
    app.mount("/static", page.static_files(), name="static")
    app.include_router(summarize.router)
    add_langserve_routes(
        app,
        {
            "/rag": services.rag_chain,
            "/rag/events": services.event_stream,
            "/summarize": services.summarizer,
        },
    )
    return app
